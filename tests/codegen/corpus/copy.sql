COPY t FROM stdin;
1	x
\.
CREATE TABLE t (a INT);