/*
 * Era B on SMP (2.6.29 to 2.6.33, RHEL/CentOS 6): char *refptr points at
 * per-cpu local_t counters, reached through __module_ref_addr(). The count
 * is their sum over every possible CPU; a healthy idle module sums to 0.
 * The write zeroes every CPU's counter and leaves the references to keep
 * in this CPU's. Both run with every CPU stopped.
 */
static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->refptr),
						   char *));
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(__module_ref_addr((struct module *)0, 0)),
						   local_t *));
}

static long frm_read(struct frm_job *job, struct frm_cpus *cpus)
{
	long total = 0;
	int cpu;

	cpus->n = 0;
	cpus->more = 0;
	for_each_possible_cpu(cpu) {
		long count = local_read(__module_ref_addr(job->mod, cpu));

		total += count;
		frm_note_cpu(cpus, cpu, count, 0);
	}
	return total;
}

static int frm_write(struct frm_job *job, long refs)
{
	int cpu, self = smp_processor_id();

	for_each_possible_cpu(cpu)
		local_set(__module_ref_addr(job->mod, cpu), cpu == self ? refs : 0);
	return 0;
}
