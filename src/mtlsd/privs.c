#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

static int
lookup_user(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		log_error("event=privs-failed user=%s reason=%s", LOG_Q(user),
		    LOG_Q(errno != 0 ? strerror(errno) : "no such user"));
		return ERR_PERM;
	}
	if (pw->pw_uid == 0) {
		log_error("event=privs-failed user=%s uid=0 "
		    "reason=\"refusing to run as root\"", LOG_Q(user));
		return ERR_PERM;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
privs_target_uid(const char *user, uid_t *uid)
{
	gid_t gid;

	if (geteuid() != 0) {
		*uid = geteuid();
		return 0;
	}
	return lookup_user(user, uid, &gid);
}

static int
become(const char *user, uid_t uid, gid_t gid)
{
	if (initgroups(user, gid) != 0) {
		log_error("event=privs-failed user=%s reason=initgroups "
		    "error=%s", LOG_Q(user), LOG_Q(strerror(errno)));
		return ERR_PERM;
	}
	if (setgid(gid) != 0) {
		log_error("event=privs-failed gid=%u reason=setgid error=%s",
		    (unsigned)gid, LOG_Q(strerror(errno)));
		return ERR_PERM;
	}
	if (setuid(uid) != 0) {
		log_error("event=privs-failed uid=%u reason=setuid error=%s",
		    (unsigned)uid, LOG_Q(strerror(errno)));
		return ERR_PERM;
	}
	/* The drop must be permanent: a saved uid of 0 would let a bug
	 * in the request path take root back. */
	if (setuid(0) == 0 || seteuid(0) == 0) {
		log_error("event=privs-failed reason=\"root privileges "
		    "could be regained after setuid\"");
		return ERR_PERM;
	}
	return 0;
}

int
privs_drop(const char *user)
{
	uid_t uid;
	gid_t gid;
	int r;

	if (geteuid() == 0) {
		if ((r = lookup_user(user, &uid, &gid)) != 0)
			return r;
		if ((r = become(user, uid, gid)) != 0)
			return r;
		log_info("event=privs-dropped user=%s uid=%u gid=%u",
		    LOG_Q(user), (unsigned)uid, (unsigned)gid);
	} else {
		log_info("event=privs-kept uid=%u reason=\"not started as "
		    "root\"", (unsigned)geteuid());
	}
	if (geteuid() == 0 || getuid() == 0) {
		log_error("event=privs-failed reason=\"refusing to run as "
		    "root\"");
		return ERR_PERM;
	}
	return 0;
}
