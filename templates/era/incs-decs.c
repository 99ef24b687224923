/*
 * Era {{ era }} ({{ era_kernels }}): a struct module_ref
 * { {{ ref_type }} incs, decs; } per CPU behind refptr.
 * The count is the sum of incs minus the sum of decs over every possible
 * CPU, decs read first. A healthy idle module sums to 0. The write zeroes
 * both counters on every CPU and leaves the references to keep in this
 * CPU's incs; zeroing also repairs decs > incs (an extra module_put()).
 * Both run with every CPU stopped.
 */
static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->refptr),
						   struct module_ref *));
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module_ref *)0)->incs),
						   {{ ref_type }}));
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module_ref *)0)->decs),
						   {{ ref_type }}));
}

static long frm_read(struct frm_job *job, struct frm_cpus *cpus)
{
	{{ ref_type }} incs = 0, decs = 0;
	int cpu;

	cpus->n = 0;
	cpus->more = 0;
	for_each_possible_cpu(cpu)
		decs += per_cpu_ptr(job->mod->refptr, cpu)->decs;
	/* decs before incs, as module_refcount() reads them: never negative. */
	smp_rmb();
	for_each_possible_cpu(cpu) {
		struct module_ref *ref = per_cpu_ptr(job->mod->refptr, cpu);

		incs += ref->incs;
		frm_note_cpu(cpus, cpu, ref->incs, ref->decs);
	}
	/* The difference wraps in {{ ref_type }}: read it as {{ ref_stype }}. */
	return (long)({{ ref_stype }})(incs - decs);
}

static int frm_write(struct frm_job *job, long refs)
{
	int cpu, self = smp_processor_id();

	for_each_possible_cpu(cpu) {
		struct module_ref *ref = per_cpu_ptr(job->mod->refptr, cpu);

		ref->incs = cpu == self ? refs : 0;
		ref->decs = 0;
	}
	return 0;
}
