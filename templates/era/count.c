/*
 * The 2.6.34-rc per-cpu form: struct module_ref { int count; } per CPU
 * behind refptr (replaced by incs/decs before 2.6.34 shipped). The count is
 * the sum over every possible CPU; a healthy idle module sums to 0. The
 * write zeroes every CPU's count and leaves the references to keep in this
 * CPU's. Both run with every CPU stopped.
 */
static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->refptr),
						   struct module_ref *));
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module_ref *)0)->count),
						   int));
}

static long frm_read(struct frm_job *job, struct frm_cpus *cpus)
{
	long total = 0;
	int cpu;

	cpus->n = 0;
	cpus->more = 0;
	for_each_possible_cpu(cpu) {
		int count = per_cpu_ptr(job->mod->refptr, cpu)->count;

		total += count;
		frm_note_cpu(cpus, cpu, count, 0);
	}
	return total;
}

static int frm_write(struct frm_job *job, long refs)
{
	int cpu, self = smp_processor_id();

	for_each_possible_cpu(cpu)
		per_cpu_ptr(job->mod->refptr, cpu)->count = cpu == self ? refs : 0;
	return 0;
}
