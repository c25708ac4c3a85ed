/*
 * fuzz_sim_faults.c - the simulator's fault/scenario document parser
 * (POST /_sim/faults, sim_fault.c): untrusted JSON must never crash it,
 * and whatever it accepts must stay within the documented bounds.
 */
#include "rs/rs_base.h"

#include "sim_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	sim_fault_rule_t *rules = NULL, *r;
	bool clear = false;
	char errstr[256];
	int n = 0;

	if (sim_faults_parse((const char *)data, size, &rules, &clear, errstr,
			     sizeof(errstr)) == RS_OK) {
		for (r = rules; r; r = r->next) {
			int i;
			/* Every accepted rule respects the limits. */
			rs_assert(r->n_steps <= SIM_FAULT_STEPS_MAX);
			for (i = 0; i < r->n_steps; i++) {
				rs_assert(r->steps[i].status >= 100 &&
					  r->steps[i].status <= 599);
				rs_assert(r->steps[i].hang_ms >= 0 &&
					  r->steps[i].hang_ms <= 600000);
				rs_assert(strlen(r->steps[i].retry_after) <
					  sizeof(r->steps[i].retry_after));
			}
			/* Matching an accepted rule's glob is safe too. */
			(void)sim_glob(r->path, "/graph/v1.0/groups/x/members");
			(void)sim_glob(r->endpoint, "graph.groups.members.add");
			n++;
		}
		rs_assert(n <= SIM_FAULT_RULES_MAX);
	}
	sim_faults_free(rules);
	return 0;
}
