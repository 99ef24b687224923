/* Modules using the target hang off mod->source_list (2.6.35 and later). */
static int frm_report_users(struct module *mod)
{
	struct module_use *use;
	int users = 0;

	list_for_each_entry(use, &mod->source_list, source_list) {
		pr_warn("%s is used by %s\n", mod->name, use->source->name);
		users++;
	}
	return users;
}
