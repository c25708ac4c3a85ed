# rs_add_it(NNNN-name LABEL kafka|integration [TIMEOUT s] [LIBS targets])
