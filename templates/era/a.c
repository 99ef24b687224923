/*
 * Era A (2.6.27 and 2.6.28): struct module_ref ref[NR_CPUS], one
 * cacheline-aligned local_t per CPU slot. The count is the sum of all
 * NR_CPUS slots, as module_refcount() sums them; a healthy idle module
 * sums to 0. The write zeroes every slot and leaves the references to keep
 * in this CPU's. Both run with every CPU stopped.
 */
static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->ref[0].count),
						   local_t));
}

static long frm_read(struct frm_job *job, struct frm_cpus *cpus)
{
	long total = 0;
	int cpu;

	cpus->n = 0;
	cpus->more = 0;
	for (cpu = 0; cpu < ARRAY_SIZE(job->mod->ref); cpu++) {
		long count = local_read(&job->mod->ref[cpu].count);

		total += count;
		frm_note_cpu(cpus, cpu, count, 0);
	}
	return total;
}

static int frm_write(struct frm_job *job, long refs)
{
	int cpu, self = smp_processor_id();

	for (cpu = 0; cpu < ARRAY_SIZE(job->mod->ref); cpu++)
		local_set(&job->mod->ref[cpu].count, cpu == self ? refs : 0);
	return 0;
}
