/*
 * Up to 2.6.34 the users hang off mod->modules_which_use_me, through an
 * entry type private to kernel/module.c: count them without reading past
 * the list links; /sys/module/NAME/holders names them.
 */
static int frm_report_users(struct module *mod)
{
	struct list_head *pos;
	int users = 0;

	list_for_each(pos, &mod->modules_which_use_me)
		users++;
	if (users)
		pr_warn("%s has %d user(s), see /sys/module/%s/holders\n",
			mod->name, users, mod->name);
	return users;
}
