# rs_add_it(NNNN-name LABEL kafka|integration [TIMEOUT s] [LIBS targets])
rs_add_it(0100-sim-login LABEL integration TIMEOUT 60 LIBS rs_simlib)
rs_add_it(0101-sim-talkdesk LABEL integration TIMEOUT 60 LIBS rs_simlib)
rs_add_it(0102-sim-control LABEL integration TIMEOUT 60 LIBS rs_simlib)
