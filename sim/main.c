/*
 * main.c - rostersync-sim command line (work in progress).
 */
#include "rs/rs_base.h"

#include "rs_sim.h"

int main(void) {
	return 0;
}
