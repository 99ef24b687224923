/*
 * Lookup: this kernel exports find_module() and module_mutex, so the target
 * is found and examined with module_mutex held, as delete_module() does:
 * nothing can load or remove a module meanwhile. Caller holds module_mutex.
 */
static struct module *frm_find(const char *name, int *ret)
{
	struct module *mod = find_module(name);

	if (!mod) {
		pr_err("no module named %s is loaded\n", name);
		*ret = -ENOENT;
	}
	return mod;
}
