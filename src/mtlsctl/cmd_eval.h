/* mtlsctl eval: a certificate against a configuration, through the
 * daemon's own code: config_check, tls_server_ctx_new's trust,
 * trust_verify, ident_from_x509 and policy_explain. */
#ifndef MTLSCTL_CMD_EVAL_H
#define MTLSCTL_CMD_EVAL_H

/* argv[0] is "eval"; argv is borrowed. Prints each check and each rule
 * (or one JSON object with --json) and returns 0 when the login (or, with
 * no --user, at least one user) would be granted, 1 when refused, 2 after
 * a message on stderr for a usage error, a bad configuration or a
 * certificate that cannot be read. */
int cmd_eval(int argc, char **argv);

#endif
