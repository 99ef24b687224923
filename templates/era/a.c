/*
 * Era A (up to 2.6.28): struct module_ref ref[NR_CPUS], one cacheline-
 * aligned local_t per CPU slot. The count is the sum over every possible
 * CPU; a healthy idle module sums to 0. Every slot is zeroed.
 */
static inline void frm_assert_layout(void)
{
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(((struct module *)0)->ref[0].count),
						   local_t));
}

static long frm_count(struct module *mod)
{
	long total = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		total += local_read(&mod->ref[cpu].count);
	return total;
}

static void frm_log_count(struct module *mod, const char *when)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		long count = local_read(&mod->ref[cpu].count);

		if (count)
			pr_info("%s: %s: cpu%d count=%ld\n", mod->name, when, cpu, count);
	}
	pr_info("%s: %s: references held: %ld\n", mod->name, when, frm_count(mod));
}

/* Called with every CPU stopped. */
static int frm_reset_count(struct module *mod)
{
	int cpu;

	for (cpu = 0; cpu < ARRAY_SIZE(mod->ref); cpu++)
		local_set(&mod->ref[cpu].count, 0);
	return 0;
}
