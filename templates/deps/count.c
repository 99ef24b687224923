/*
 * Modules using the target hang off mod->{{ deps_field }}, through entries
 * whose type this kernel keeps private:
 * {{ deps_kernels }}.
 * Count them without reading past the list links;
 * /sys/module/NAME/holders names them.
 */
static int frm_report_users(struct module *mod)
{
	struct list_head *pos;
	int users = 0;

	list_for_each(pos, &mod->{{ deps_field }})
		users++;
	if (users)
		pr_warn("%s has %d user(s), see /sys/module/%s/holders\n",
			mod->name, users, mod->name);
	return users;
}
