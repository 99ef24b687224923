/*
 * Era E (3.19 and later): one atomic_t refcnt. MODULE_REF_BASE (1) is the
 * idle value and lives only in kernel/module, so it is carried here. 0 means
 * delete_module() has claimed the module: never write 0, and never overwrite
 * a 0. Setting MODULE_REF_BASE also repairs a count that went negative.
 */
#define FRM_MODULE_REF_BASE	{{ module_ref_base }}

static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->refcnt),
						   atomic_t));
}

/* References held, as module_refcount() reports them. */
static long frm_count(struct module *mod)
{
	return (long)atomic_read(&mod->refcnt) - FRM_MODULE_REF_BASE;
}

static void frm_log_count(struct module *mod, const char *when)
{
	pr_info("%s: %s: refcnt=%d, references held: %ld\n",
		mod->name, when, atomic_read(&mod->refcnt), frm_count(mod));
}

static int frm_reset_count(struct module *mod)
{
	int old = atomic_read(&mod->refcnt);

	while (old != 0) {
		int seen = atomic_cmpxchg(&mod->refcnt, old, FRM_MODULE_REF_BASE);

		if (seen == old)
			return 0;
		old = seen;
	}
	pr_err("%s is being removed (refcnt 0): not touching it\n", mod->name);
	return -EBUSY;
}
