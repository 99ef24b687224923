/*
 * Lookup: find_module() and module_mutex are not exported by this kernel
 * (unexported in 5.12, and in stable 5.10.y). The module ring is walked
 * from our own entry with preemption disabled, the RCU-sched protection
 * the kernel's own lookup relies on: a module taken off the list is not
 * freed before every CPU has been preemptible once.
 *
 * The ring also holds the static `modules` list head, which lives in the
 * kernel image and not inside any struct module: it must never be read as
 * a module. It is recognised by its address, listhead= (the `modules` line
 * of /proc/kallsyms){% if module_range %}, or, without it, as the one node
 * outside [MODULES_VADDR, MODULES_END), where x86_64 keeps every module.
 * With listhead= a node outside that range that is not listhead is an
 * error too{% else %}, which is required on this architecture: modules do
 * not lie in one fixed address range here{% endif %}.
 */
enum frm_node { FRM_NODE_MODULE, FRM_NODE_HEAD, FRM_NODE_UNKNOWN };

static enum frm_node frm_classify(const struct list_head *node)
{
	unsigned long addr = (unsigned long)node;
{%- if module_range %}
	bool outside = addr < MODULES_VADDR || addr >= MODULES_END;

	if (listhead && addr == listhead)
		return FRM_NODE_HEAD;
	if (outside)
		return listhead ? FRM_NODE_UNKNOWN : FRM_NODE_HEAD;
	return FRM_NODE_MODULE;
{%- else %}

	return addr == listhead ? FRM_NODE_HEAD : FRM_NODE_MODULE;
{%- endif %}
}

static struct module *frm_find(struct frm_job *job)
{
	struct module *mod, *found = NULL;

	job->heads = 0;
	list_for_each_entry_rcu(mod, &THIS_MODULE->list, list) {
		enum frm_node node = frm_classify(&mod->list);

		if (node == FRM_NODE_UNKNOWN) {
			job->heads = -1;
			frm_refuse(job, -EIO, FRM_BAD_LIST);
			return NULL;
		}
		if (node == FRM_NODE_HEAD) {
			job->heads++;
			continue;
		}
{%- if has_unformed %}
		if (mod->state == MODULE_STATE_UNFORMED)
			continue;
{%- endif %}
		if (!strcmp(mod->name, job->name))
			found = mod;
	}
	if (job->heads != 1) {
		frm_refuse(job, -EIO, FRM_BAD_LIST);
		return NULL;
	}
	if (!found)
		frm_refuse(job, -ENOENT, FRM_NOT_FOUND);
	return found;
}
