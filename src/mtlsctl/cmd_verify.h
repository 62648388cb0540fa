/* mtlsctl verify: chain verification alone, with the daemon's code
 * (trust_load_opts and trust_verify of src/lib/verify.c). */
#ifndef MTLSCTL_CMD_VERIFY_H
#define MTLSCTL_CMD_VERIFY_H

/* argv[0] is "verify"; argv is borrowed. Prints "LEAF: OK" and returns
 * 0 for a valid certificate, prints "LEAF: refused: REASON" and returns 1
 * for an invalid one, returns 2 after a message on stderr for a usage
 * error or a file that cannot be loaded. */
int cmd_verify(int argc, char **argv);

#endif
