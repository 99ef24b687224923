/* Why a run refused: recorded under protection, reported afterwards. */
enum frm_why {
{%- for w in why %}
	FRM_{{ w | upper }},
{%- endfor %}
};

/* The CPUs whose counters were not zero, as one snapshot. */
#define FRM_LOGGED_CPUS 64

struct frm_cpu {
	int cpu;
	long a;
	long b;
};

struct frm_cpus {
	int n;
	int more;
	struct frm_cpu cpu[FRM_LOGGED_CPUS];
};

/* What one run found and did. */
struct frm_job {
	char name[MODULE_NAME_LEN];
	struct module *mod;
	unsigned long addr;
	int ret;
	enum frm_why why;
	int state;
	int users;
	int files;
	int maps;
	int supers;
	int unchecked;
	int in_flux;
	pid_t flux_pid;
	int explained;
	bool moved;
	bool fs_anchors;
	const struct module *scanned;
	int heads;
	int raw;
	long before;
	long after;
	long refs;
	long removed;
	long kernel_says;
	bool wake;
	bool changed;
	struct frm_cpus cpus_before;
	struct frm_cpus cpus_after;
};

static int frm_refuse(struct frm_job *job, int ret, enum frm_why why)
{
	job->ret = ret;
	job->why = why;
	return ret;
}
{%- if per_cpu %}

static void frm_note_cpu(struct frm_cpus *cpus, int cpu, long a, long b)
{
	if (!a && !b)
		return;
	if (cpus->n == FRM_LOGGED_CPUS) {
		cpus->more++;
		return;
	}
	cpus->cpu[cpus->n].cpu = cpu;
	cpus->cpu[cpus->n].a = a;
	cpus->cpu[cpus->n].b = b;
	cpus->n++;
}

/* Every per-cpu era logs the same way: the non-zero CPUs, then the sum. */
static void frm_log(const struct frm_job *job, const char *when,
		    const struct frm_cpus *cpus, long held)
{
	int i;

	for (i = 0; i < cpus->n; i++) {
{%- if cpu_b %}
		pr_info("%s: %s: cpu%d {{ cpu_a }}=%lu {{ cpu_b }}=%lu\n",
			job->name, when, cpus->cpu[i].cpu,
			(unsigned long)cpus->cpu[i].a,
			(unsigned long)cpus->cpu[i].b);
		pr_info("{{ protocol }} cpu target=%s when=%s cpu=%d {{ cpu_a }}=%lu {{ cpu_b }}=%lu\n",
			job->name, when, cpus->cpu[i].cpu,
			(unsigned long)cpus->cpu[i].a,
			(unsigned long)cpus->cpu[i].b);
{%- else %}
		pr_info("%s: %s: cpu%d {{ cpu_a }}=%ld\n",
			job->name, when, cpus->cpu[i].cpu, cpus->cpu[i].a);
		pr_info("{{ protocol }} cpu target=%s when=%s cpu=%d {{ cpu_a }}=%ld\n",
			job->name, when, cpus->cpu[i].cpu, cpus->cpu[i].a);
{%- endif %}
	}
	if (cpus->more)
		pr_info("%s: %s: and %d more CPUs with non-zero counters\n",
			job->name, when, cpus->more);
	pr_info("%s: %s: references held: %ld\n", job->name, when, held);
}
{%- endif %}
