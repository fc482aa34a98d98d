/* `lsce demo`: every variant on a built-in workload, checked against scalar, timed next to
 * memcpy. */
#ifndef LSCE_TOOLS_DEMO_H
#define LSCE_TOOLS_DEMO_H

/* argv holds the options after "demo". Returns the exit status. */
int demo_main(int argc, char **argv);

#endif /* LSCE_TOOLS_DEMO_H */
