/*
 * Era {{ era }} ({{ era_kernels }}): a struct module_ref
 * { {{ ref_type }} incs, decs; } per CPU behind refptr.
 * The count is the sum of incs minus the sum of decs over every possible
 * CPU, decs read first. A healthy idle module sums to 0. Resetting both to
 * 0 on every CPU also repairs decs > incs (an extra module_put()).
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

static long frm_count(struct module *mod)
{
	{{ ref_type }} incs = 0, decs = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		decs += per_cpu_ptr(mod->refptr, cpu)->decs;
	/* decs before incs, as module_refcount() reads them: never negative. */
	smp_rmb();
	for_each_possible_cpu(cpu)
		incs += per_cpu_ptr(mod->refptr, cpu)->incs;
	return (long)(incs - decs);
}

static void frm_log_count(struct module *mod, const char *when)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct module_ref *ref = per_cpu_ptr(mod->refptr, cpu);

		if (ref->incs || ref->decs)
			pr_info("%s: %s: cpu%d incs={{ ref_fmt }} decs={{ ref_fmt }}\n",
				mod->name, when, cpu, ref->incs, ref->decs);
	}
	pr_info("%s: %s: references held: %ld\n", mod->name, when, frm_count(mod));
}

/* Called with every CPU stopped. */
static int frm_reset_count(struct module *mod)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct module_ref *ref = per_cpu_ptr(mod->refptr, cpu);

		ref->incs = 0;
		ref->decs = 0;
	}
	return 0;
}
