/*
 * The 2.6.34-rc per-cpu form: struct module_ref { int count; } per CPU
 * behind refptr (replaced by incs/decs before 2.6.34 shipped). The count is
 * the sum over every possible CPU; a healthy idle module sums to 0.
 */
static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->refptr),
						   struct module_ref *));
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module_ref *)0)->count),
						   int));
}

static long frm_count(struct module *mod)
{
	long total = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		total += per_cpu_ptr(mod->refptr, cpu)->count;
	return total;
}

static void frm_log_count(struct module *mod, const char *when)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		int count = per_cpu_ptr(mod->refptr, cpu)->count;

		if (count)
			pr_info("%s: %s: cpu%d count=%d\n", mod->name, when, cpu, count);
	}
	pr_info("%s: %s: references held: %ld\n", mod->name, when, frm_count(mod));
}

/* Called with every CPU stopped. */
static int frm_reset_count(struct module *mod)
{
	int cpu;

	for_each_possible_cpu(cpu)
		per_cpu_ptr(mod->refptr, cpu)->count = 0;
	return 0;
}
