/*
 * Era E (3.19 and later): one atomic_t refcnt. MODULE_REF_BASE (1) is the
 * idle value and lives only in kernel/module, so it is carried here. Never
 * write 0: it means delete_module() has claimed the module, try_module_get()
 * then fails and the unload path underflows. module_put() never goes below
 * 0 (atomic_dec_if_positive), so after an extra module_put() a LIVE module
 * sits at 0 and rmmod can never claim it; writing MODULE_REF_BASE repairs
 * that. The write is a compare-and-exchange from the value read: if rmmod
 * (try_release_module_ref()) or anyone else moved the count meanwhile, the
 * write does not happen.
 */
#define FRM_MODULE_REF_BASE	{{ module_ref_base }}

static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->refcnt),
						   atomic_t));
}

/* References held, as module_refcount() reports them. */
static long frm_read(struct frm_job *job, struct frm_cpus *cpus)
{
	job->raw = atomic_read(&job->mod->refcnt);
	return (long)job->raw - FRM_MODULE_REF_BASE;
}

static int frm_write(struct frm_job *job, long refs)
{
	int want = FRM_MODULE_REF_BASE + (int)refs;

	if (atomic_cmpxchg(&job->mod->refcnt, job->raw, want) != job->raw)
		return -EAGAIN;
	return 0;
}

static void frm_log(const struct frm_job *job, const char *when,
		    const struct frm_cpus *cpus, long held)
{
	pr_info("%s: %s: refcnt=%ld, references held: %ld\n",
		job->name, when, held + FRM_MODULE_REF_BASE, held);
}
