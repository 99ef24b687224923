/*
 * Era B without CONFIG_SMP (2.6.29 to 2.6.33): a single local_t ref. A
 * healthy idle module counts 0. Read and written inside the uniprocessor
 * stop_machine(), which runs with interrupts off.
 */
static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->ref),
						   local_t));
}

static long frm_read(struct frm_job *job, struct frm_cpus *cpus)
{
	long count = local_read(&job->mod->ref);

	cpus->n = 0;
	cpus->more = 0;
	frm_note_cpu(cpus, 0, count, 0);
	return count;
}

static int frm_write(struct frm_job *job, long refs)
{
	local_set(&job->mod->ref, refs);
	return 0;
}
