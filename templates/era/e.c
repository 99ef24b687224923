/*
 * Era E (3.19 and later): one atomic_t refcnt. MODULE_REF_BASE (1) is the
 * idle value and lives only in kernel/module, so it is carried here. Never
 * write 0: it means delete_module() has claimed the module, try_module_get()
 * then fails and the unload path underflows. Setting MODULE_REF_BASE also
 * repairs a count that went negative: after an extra module_put() a LIVE
 * module sits at 0 (or below), and rmmod can never claim it.
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

/* Called after frm_check() saw the module LIVE. */
static int frm_reset_count(struct module *mod)
{
	atomic_set(&mod->refcnt, FRM_MODULE_REF_BASE);
	return 0;
}
