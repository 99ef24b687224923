/*
 * Era B without CONFIG_SMP (2.6.29 to 2.6.33): a single local_t ref.
 * A healthy idle module counts 0.
 */
static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->ref),
						   local_t));
}

static long frm_count(struct module *mod)
{
	return local_read(&mod->ref);
}

static void frm_log_count(struct module *mod, const char *when)
{
	pr_info("%s: %s: references held: %ld\n", mod->name, when, frm_count(mod));
}

/* Called with the (only) CPU stopped. */
static int frm_reset_count(struct module *mod)
{
	local_set(&mod->ref, 0);
	return 0;
}
