/*
 * Lookup: find_module() and module_mutex are not exported by this kernel
 * (unexported in 5.12, and in stable 5.10.y). The module ring is walked
 * from our own entry with preemption disabled, the RCU-sched protection
 * the kernel's own lookup relies on: a module taken off the list is not
 * freed before every CPU has been preemptible once.
 *
 * The ring also holds the static `modules` list head, which lives in the
 * kernel image and not inside any struct module. It is the one node outside
 * the module area: it is recognised by its address, never read as a module.
 */
static bool frm_is_list_head(const struct list_head *node)
{
	unsigned long addr = (unsigned long)node;

	return addr < MODULES_VADDR || addr >= MODULES_END;
}

static struct module *frm_find(const char *name, int *ret)
{
	struct module *mod, *found = NULL;
	int heads = 0;

	list_for_each_entry_rcu(mod, &THIS_MODULE->list, list) {
		if (frm_is_list_head(&mod->list)) {
			heads++;
			continue;
		}
{%- if has_unformed %}
		if (mod->state == MODULE_STATE_UNFORMED)
			continue;
{%- endif %}
		if (!strcmp(mod->name, name))
			found = mod;
	}
	if (heads != 1) {
		pr_err("module list: expected one list head, found %d; nothing changed\n",
		       heads);
		*ret = -EIO;
		return NULL;
	}
	if (!found) {
		pr_err("no module named %s is loaded\n", name);
		*ret = -ENOENT;
	}
	return found;
}
