/*
 * Era B on SMP (2.6.29 to 2.6.33, RHEL/CentOS 6): char *refptr points at
 * per-cpu local_t counters, reached through __module_ref_addr(). The count
 * is their sum over every possible CPU; a healthy idle module sums to 0.
 */
static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->refptr),
						   char *));
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(__module_ref_addr((struct module *)0, 0)),
						   local_t *));
}

static long frm_count(struct module *mod)
{
	long total = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		total += local_read(__module_ref_addr(mod, cpu));
	return total;
}

static void frm_log_count(struct module *mod, const char *when)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		long count = local_read(__module_ref_addr(mod, cpu));

		if (count)
			pr_info("%s: %s: cpu%d count=%ld\n", mod->name, when, cpu, count);
	}
	pr_info("%s: %s: references held: %ld\n", mod->name, when, frm_count(mod));
}

/* Called with every CPU stopped. */
static int frm_reset_count(struct module *mod)
{
	int cpu;

	for_each_possible_cpu(cpu)
		local_set(__module_ref_addr(mod, cpu), 0);
	return 0;
}
