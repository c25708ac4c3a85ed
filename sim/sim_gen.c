/*
 * sim_gen.c - the deterministic synthetic MSP: tenants with credentials,
 * Entra users and groups, Talkdesk users and queues, the queue -> group
 * mapping, certificates for certificate-only tenants, and churn rounds.
 *
 * Everything derives from the seed (per tenant: seed + tenant id), so two
 * runs with the same parameters produce the same ids, e-mails and
 * memberships; only RSA keys are random.  Real-world e-mail quirks are
 * built in on purpose, because identity resolution is where a sync breaks:
 *   - case differences (Entra "Ada.Lovelace@", Talkdesk "ada.lovelace@");
 *   - Talkdesk holding the UPN while Entra's mail differs;
 *   - Talkdesk holding an old address that is only a proxy alias in Entra;
 *   - guests (UPN with #EXT#, mail at the partner's domain);
 *   - an apostrophe in some addresses (OData '' escaping);
 *   - Talkdesk users with no Entra account; Entra users not in Talkdesk.
 */
#include "rs/rs_base.h"

#include "sim_priv.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const first_names[] = {
	"Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Ken",
	"Barbara", "Edsger", "Donald", "Frances", "John", "Radia", "Vint",
	"Hedy", "Tim", "Sophie", "Niklaus", "Katherine", "Bjarne", "Anita",
	"Guido", "Lynn", "James", "Karen", "Carlos", "Yuki", "Priya", "Lars",
	"Fatima", "Mateo", "Ingrid", "Olu", "Mei", "Siobhan", "Rafael",
};
static const char *const last_names[] = {
	"Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie",
	"Thompson", "Liskov", "Dijkstra", "Knuth", "Allen", "Backus",
	"Perlman", "Cerf", "Lamarr", "Berners", "Wilson", "Wirth", "Johnson",
	"Stroustrup", "Borg", "Rossum", "Conway", "Gosling", "Jones", "Silva",
	"Tanaka", "Patel", "Nilsen", "Haddad", "Garcia", "Berg", "Adeyemi",
	"Chen", "Murphy", "Costa",
};
/* Names with an apostrophe: their addresses need OData '' escaping. */
static const char *const apos_names[] = {"O'Brien", "D'Angelo", "O'Neil"};
static const char *const depts[] = {
	"sales", "support", "billing", "onboarding", "renewals", "helpdesk",
	"escalations", "retention", "partners", "vip",
};
static const char *const regions[] = {"emea", "amer", "apac", "nordics",
				      "dach", "uk"};

static uint64_t str_hash(const char *s) {
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void tenant_rng(sim_rng_t *r, uint64_t seed, const char *tid,
		       const char *purpose, uint64_t round) {
	sim_rng_seed(r, seed * 0x9e3779b97f4a7c15ULL ^ str_hash(tid) ^
				(str_hash(purpose) << 1) ^ (round * 7919));
}

static void rand_chars(sim_rng_t *r, const char *alphabet, char *out,
		       size_t n) {
	size_t al = strlen(alphabet), i;
	for (i = 0; i < n; i++)
		out[i] = alphabet[sim_rng_next(r) % al];
	out[n] = '\0';
}

static void hex_id(sim_rng_t *r, char *out, size_t n) {
	rand_chars(r, "0123456789abcdef", out, n);
}

void rs_sim_gen_init(rs_sim_gen_t *gen) {
	memset(gen, 0, sizeof(*gen));
	gen->tenants = 3;
	gen->users = 60;
	gen->queues = 6;
	gen->seed = 1;
	gen->cert_every = 10;
}

rs_err_t rs_sim_gen_parse(rs_sim_gen_t *gen, const char *spec, char *errstr,
			  size_t errstr_size) {
	sim_kv_t kv;
	char *copy = rs_strdup(spec), *c;
	rs_err_t err = RS_ERR_INVALID_ARG;
	int i;

	/* "a=1,b=2" is a form string with ',' for '&'. */
	for (c = copy; *c; c++)
		if (*c == ',')
			*c = '&';
	if (sim_kv_parse(&kv, copy, strlen(copy)) != RS_OK) {
		rs_snprintf(errstr, errstr_size, "bad generator spec");
		goto out;
	}
	for (i = 0; i < kv.n; i++) {
		char *end;
		long long v = strtoll(kv.value[i], &end, 10);
		if (*end || !kv.value[i][0] || v < 0) {
			rs_snprintf(errstr, errstr_size,
				    "generator: %s needs a non-negative number",
				    kv.name[i]);
			goto out;
		}
		if (!strcmp(kv.name[i], "tenants") && v >= 1 && v <= 9999)
			gen->tenants = (int)v;
		else if (!strcmp(kv.name[i], "users") && v <= 10000000)
			gen->users = (int)v;
		else if (!strcmp(kv.name[i], "queues") && v <= 1000000)
			gen->queues = (int)v;
		else if (!strcmp(kv.name[i], "seed"))
			gen->seed = (uint64_t)v;
		else if (!strcmp(kv.name[i], "cert_every") && v <= 9999)
			gen->cert_every = (int)v;
		else {
			rs_snprintf(errstr, errstr_size,
				    "generator: unknown key or bad value "
				    "\"%s\" (tenants 1..9999, users, queues, "
				    "seed, cert_every)",
				    kv.name[i]);
			goto out;
		}
	}
	err = RS_OK;
out:
	sim_kv_cleanup(&kv);
	rs_free(copy);
	return err;
}

/* ---- certificates -------------------------------------------------- */

static rs_err_t finish_cert(sim_tenant_t *tn, EVP_PKEY *pkey, X509 *x,
			    char *errstr, size_t errstr_size) {
	PKCS12 *p12 = NULL;
	unsigned char *der = NULL, *p;
	unsigned int mdlen;
	BIO *bio = NULL;
	char *pem;
	long len;
	int n;
	rs_err_t err = RS_ERR_CRYPTO;

	X509_digest(x, EVP_sha1(), tn->x5t_sha1, &mdlen);
	X509_digest(x, EVP_sha256(), tn->x5t_s256, &mdlen);
	p12 = PKCS12_create(tn->pfx_password, tn->id, pkey, x, NULL, 0, 0, 0,
			    0, 0);
	if (!p12) {
		rs_snprintf(errstr, errstr_size, "PKCS12_create failed");
		goto out;
	}
	n = i2d_PKCS12(p12, NULL);
	if (n <= 0)
		goto out;
	der = rs_malloc((size_t)n);
	p = der;
	i2d_PKCS12(p12, &p);
	rs_free(tn->pfx);
	tn->pfx = der;
	tn->pfx_len = (size_t)n;
	der = NULL;
	bio = BIO_new(BIO_s_mem());
	if (!PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL))
		goto out;
	len = BIO_get_mem_data(bio, &pem);
	rs_free(tn->key_pem);
	tn->key_pem = rs_strndup(pem, (size_t)len);
	if (tn->cert)
		X509_free(tn->cert);
	X509_up_ref(x);
	tn->cert = x;
	err = RS_OK;
out:
	BIO_free(bio);
	PKCS12_free(p12);
	rs_free(der);
	return err;
}

/* Self-signs a certificate for tn with pkey and builds its PFX. */
static rs_err_t cert_with_key(sim_tenant_t *tn, EVP_PKEY *pkey, char *errstr,
			      size_t errstr_size) {
	X509 *x = X509_new();
	X509_NAME *name;
	char cn[128];
	rs_err_t err = RS_ERR_CRYPTO;

	if (!x)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x),
			 (long)(str_hash(tn->id) & 0x7fffffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 2L * 365 * 86400);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	rs_snprintf(cn, sizeof(cn), "rostersync-sim %s", tn->id);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, pkey, EVP_sha256())) {
		rs_snprintf(errstr, errstr_size, "certificate signing failed");
		goto out;
	}
	err = finish_cert(tn, pkey, x, errstr, errstr_size);
out:
	X509_free(x);
	return err;
}

rs_err_t sim_gen_cert(sim_tenant_t *tn, char *errstr, size_t errstr_size) {
	/* 2048 bits: what Entra requires; only certificate tenants pay. */
	EVP_PKEY *pkey = EVP_RSA_gen(2048);
	rs_err_t err;
	if (!pkey) {
		rs_snprintf(errstr, errstr_size, "RSA key generation failed");
		return RS_ERR_CRYPTO;
	}
	err = cert_with_key(tn, pkey, errstr, errstr_size);
	EVP_PKEY_free(pkey);
	return err;
}

/*
 * RSA key generation dominates start-up (≈0.3 s per 2048-bit key on a busy
 * 2-core box), so keys are cached on disk per (seed, tenant) under
 * $RS_SIM_KEY_CACHE or ~/.cache/rostersync/sim-keys (0600 files), and the
 * missing ones are generated on several threads.  With a warm cache the
 * certificates, thumbprints and PFX files are also stable across runs.
 */
typedef struct keyjob_s {
	char path[1024];
	EVP_PKEY *key;
} keyjob_t;

typedef struct keypool_s {
	keyjob_t *jobs;
	int n;
	int next; /* atomic */
} keypool_t;

static void *keygen_thread(void *arg) {
	keypool_t *kp = arg;
	for (;;) {
		int i = __atomic_fetch_add(&kp->next, 1, __ATOMIC_RELAXED);
		if (i >= kp->n)
			break;
		if (!kp->jobs[i].key)
			kp->jobs[i].key = EVP_RSA_gen(2048);
	}
	return NULL;
}

static void key_cache_dir(char *buf, size_t size) {
	const char *env = getenv("RS_SIM_KEY_CACHE");
	const char *home = getenv("HOME");
	if (env && *env)
		rs_snprintf(buf, size, "%s", env);
	else if (home && *home)
		rs_snprintf(buf, size, "%s/.cache/rostersync/sim-keys", home);
	else
		buf[0] = '\0';
}

static void mkdirs(const char *dir) {
	char tmp[1024], *p;
	rs_snprintf(tmp, sizeof(tmp), "%s", dir);
	for (p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0700);
			*p = '/';
		}
	}
	mkdir(tmp, 0700);
}

static EVP_PKEY *key_load(const char *path) {
	FILE *fp = fopen(path, "r");
	EVP_PKEY *k;
	if (!fp)
		return NULL;
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	return k;
}

static void key_store(const char *path, EVP_PKEY *k) {
	char tmp[1100];
	int fd;
	FILE *fp;
	rs_snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	fp = fdopen(fd, "w");
	if (!fp) {
		close(fd);
		return;
	}
	PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL);
	if (fclose(fp) == 0)
		rename(tmp, path); /* atomic: concurrent sims never see half */
	else
		unlink(tmp);
}

/* Creates the certificates of the tenants in tns (n of them). */
static rs_err_t gen_certs(rs_sim_t *sim, sim_tenant_t **tns, int n,
			  char *errstr, size_t errstr_size) {
	keypool_t kp = {0};
	pthread_t th[4];
	char dir[900];
	int i, nth = 0;
	rs_err_t err = RS_OK;

	if (!n)
		return RS_OK;
	key_cache_dir(dir, sizeof(dir));
	if (dir[0])
		mkdirs(dir);
	kp.jobs = rs_calloc((size_t)n, sizeof(*kp.jobs));
	kp.n = n;
	for (i = 0; i < n; i++) {
		if (!dir[0])
			continue;
		rs_snprintf(kp.jobs[i].path, sizeof(kp.jobs[i].path),
			    "%s/%llu-%s.pem", dir,
			    (unsigned long long)sim->gen.seed, tns[i]->id);
		kp.jobs[i].key = key_load(kp.jobs[i].path);
	}
	for (i = 0; i < (int)RS_ARRAY_SIZE(th); i++)
		if (pthread_create(&th[i], NULL, keygen_thread, &kp) == 0)
			nth++;
	keygen_thread(&kp); /* the caller helps too */
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < n; i++) {
		if (!kp.jobs[i].key) {
			rs_snprintf(errstr, errstr_size,
				    "RSA key generation failed");
			err = RS_ERR_CRYPTO;
			continue;
		}
		if (kp.jobs[i].path[0] && access(kp.jobs[i].path, R_OK) != 0)
			key_store(kp.jobs[i].path, kp.jobs[i].key);
		if (!err)
			err = cert_with_key(tns[i], kp.jobs[i].key, errstr,
					    errstr_size);
		EVP_PKEY_free(kp.jobs[i].key);
	}
	rs_free(kp.jobs);
	return err;
}

rs_err_t sim_cert_from_pem(sim_tenant_t *tn, const char *cert_pem,
			   const char *key_pem, char *errstr,
			   size_t errstr_size) {
	BIO *b1 = BIO_new_mem_buf(cert_pem, -1), *b2 = BIO_new_mem_buf(key_pem, -1);
	X509 *x = PEM_read_bio_X509(b1, NULL, NULL, NULL);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b2, NULL, NULL, NULL);
	rs_err_t err = RS_ERR_CRYPTO;
	if (!x || !k)
		rs_snprintf(errstr, errstr_size, "bad certificate/key PEM for %s",
			    tn->id);
	else
		err = finish_cert(tn, k, x, errstr, errstr_size);
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(b1);
	BIO_free(b2);
	return err;
}

char *sim_cert_pem(const sim_tenant_t *tn) {
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem, *out;
	long len;
	PEM_write_bio_X509(bio, tn->cert);
	len = BIO_get_mem_data(bio, &pem);
	out = rs_strndup(pem, (size_t)len);
	BIO_free(bio);
	return out;
}

rs_err_t rs_sim_tenant_pfx(rs_sim_t *sim, const char *tenant,
			   const unsigned char **der, size_t *der_len,
			   const char **password) {
	sim_tenant_t *tn;
	rs_err_t err = RS_ERR_NOT_FOUND;
	pthread_rwlock_rdlock(&sim->state_lock);
	tn = sim_tenant_by_id(sim, tenant);
	if (tn && tn->pfx) {
		*der = tn->pfx;
		*der_len = tn->pfx_len;
		*password = tn->pfx_password;
		err = RS_OK;
	}
	pthread_rwlock_unlock(&sim->state_lock);
	return err;
}

/* ---- data ---------------------------------------------------------- */

static int share(int total, int parts, int i) {
	return total / parts + (i < total % parts ? 1 : 0);
}

static void lower_into(char *s) {
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

/* Entra user + Talkdesk counterpart for person k of tenant tn. */
static void gen_person(sim_tenant_t *tn, sim_rng_t *r, int k) {
	const char *fn = first_names[sim_rng_next(r) % RS_ARRAY_SIZE(first_names)];
	const char *ln;
	char id[37], upn[256], mail[256], td_email[256], disp[160], tdid[25];
	char lf[64], ll[64];
	int kind = (int)sim_rng_range(r, 0, 99);
	sim_user_t *u;
	bool in_td = true, apos = false;

	if (kind < 2) {
		ln = apos_names[sim_rng_next(r) % RS_ARRAY_SIZE(apos_names)];
		apos = true;
	} else {
		ln = last_names[sim_rng_next(r) % RS_ARRAY_SIZE(last_names)];
	}
	sim_rng_guid(r, id);
	hex_id(r, tdid, 24);
	rs_snprintf(lf, sizeof(lf), "%s", fn);
	rs_snprintf(ll, sizeof(ll), "%s", ln);
	lower_into(lf);
	lower_into(ll);
	rs_snprintf(disp, sizeof(disp), "%s %s", fn, ln);
	if (kind < 72 || apos) {
		/* Plain: same address, case differs between the systems. */
		rs_snprintf(upn, sizeof(upn), "%s.%s%d@%s", fn, ln, k,
			    tn->mail_domain);
		rs_snprintf(mail, sizeof(mail), "%s", upn);
		rs_snprintf(td_email, sizeof(td_email), "%s.%s%d@%s", lf, ll,
			    k, tn->mail_domain);
	} else if (kind < 80) {
		/* Talkdesk has the UPN; Entra's mail is different. */
		rs_snprintf(upn, sizeof(upn), "%c%s%d@%s", lf[0], ll, k,
			    tn->mail_domain);
		rs_snprintf(mail, sizeof(mail), "%s.%s%d@%s", lf, ll, k,
			    tn->mail_domain);
		rs_snprintf(td_email, sizeof(td_email), "%s", upn);
	} else if (kind < 86) {
		/* Talkdesk has an old address, only a proxy alias in Entra. */
		rs_snprintf(upn, sizeof(upn), "%s.%s%d@%s", lf, ll, k,
			    tn->mail_domain);
		rs_snprintf(mail, sizeof(mail), "%s", upn);
		rs_snprintf(td_email, sizeof(td_email), "%s%d@legacy-%s", ll,
			    k, tn->mail_domain);
	} else if (kind < 89) {
		/* Guest from a partner: #EXT# UPN, mail at their domain. */
		rs_snprintf(mail, sizeof(mail), "%s.%s%d@partner-%s.example",
			    lf, ll, k, tn->id);
		rs_snprintf(upn, sizeof(upn),
			    "%s.%s%d_partner-%s.example#EXT#@%s", lf, ll, k,
			    tn->id, tn->domain);
		rs_snprintf(td_email, sizeof(td_email), "%s", mail);
	} else {
		/* In Entra only (back office, not an agent). */
		rs_snprintf(upn, sizeof(upn), "%s.%s%d@%s", lf, ll, k,
			    tn->mail_domain);
		rs_snprintf(mail, sizeof(mail), "%s", upn);
		in_td = false;
	}
	u = sim_user_add(tn, id, upn, mail, disp);
	u->given_name = rs_strdup(fn);
	u->surname = rs_strdup(ln);
	u->department = rs_strdup(depts[k % RS_ARRAY_SIZE(depts)]);
	if (kind >= 80 && kind < 86)
		sim_user_add_alias(tn, u, td_email);
	if (in_td)
		sim_td_user_add(tn, tdid, td_email, disp);
}

/*
 * Everything here derives from (seed, tenant id): regenerating a tenant
 * (reset) rebuilds the very same data.  Initial group memberships bypass
 * the mutation helpers on purpose: they are the starting state, not writes.
 */
void sim_gen_tenant_data(rs_sim_t *sim, sim_tenant_t *tn, int index) {
	const rs_sim_gen_t *g = &sim->gen;
	int n_users = share(g->users, g->tenants, index);
	int n_queues = share(g->queues, g->tenants, index);
	sim_rng_t r;
	int k, i;
	size_t nt;
	int *perm = NULL;

	tenant_rng(&r, g->seed, tn->id, "data", 0);
	for (k = 0; k < n_users; k++)
		gen_person(tn, &r, k + 1);
	/* Contractors: Talkdesk users with no Entra account at all. */
	for (k = 0; k < n_users / 20; k++) {
		char tdid[25], email[200], name[64];
		hex_id(&r, tdid, 24);
		rs_snprintf(email, sizeof(email),
			    "contractor%d@outsourcer-%s.example", k + 1, tn->id);
		rs_snprintf(name, sizeof(name), "Contractor %d", k + 1);
		sim_td_user_add(tn, tdid, email, name);
	}
	/* A small unmapped group so listings are not only call queues. */
	{
		char gid[37];
		sim_group_t *grp;
		sim_rng_guid(&r, gid);
		grp = sim_group_add(tn, gid, "Helpdesk Admins");
		grp->mail_nickname = rs_strdup("helpdesk-admins");
		for (k = 0; k < 3 && (size_t)k < tn->user_list.n; k++)
			sim_idset_add(&grp->members,
				      ((sim_user_t *)tn->user_list.v[k])->id);
	}
	nt = tn->td_user_list.n;
	perm = rs_malloc((nt ? nt : 1) * sizeof(*perm));
	for (i = 0; i < tn->n_map; i++) {
		rs_free(tn->map_queue[i]);
		rs_free(tn->map_group[i]);
	}
	tn->n_map = 0;
	tn->map_queue = rs_realloc(tn->map_queue,
				   (size_t)(n_queues ? n_queues : 1) *
					   sizeof(char *));
	tn->map_group = rs_realloc(tn->map_group,
				   (size_t)(n_queues ? n_queues : 1) *
					   sizeof(char *));
	for (i = 0; i < n_queues; i++) {
		char qid[33], qname[64], gid[37], gname[96];
		sim_td_queue_t *q;
		sim_group_t *grp;
		double x = sim_rng_double(&r);
		/* Sizes 1..300, mostly small (cubic skew), capped by the
		 * number of Talkdesk users. */
		size_t size = 1 + (size_t)(299.0 * x * x * x), j;

		hex_id(&r, qid, 32);
		rs_snprintf(qname, sizeof(qname), "%s-%s-%02d",
			    depts[i % RS_ARRAY_SIZE(depts)],
			    regions[(i / RS_ARRAY_SIZE(depts)) %
				    RS_ARRAY_SIZE(regions)],
			    i + 1);
		q = sim_td_queue_add(tn, qid, qname);
		q->description = rs_strdup("Generated call queue");
		if (size > nt)
			size = nt;
		for (j = 0; j < nt; j++)
			perm[j] = (int)j;
		for (j = 0; j < size; j++) {
			size_t pick = j + (size_t)(sim_rng_next(&r) % (nt - j));
			int t = perm[j];
			perm[j] = perm[pick];
			perm[pick] = t;
			sim_idset_add(&q->users,
				      ((sim_td_user_t *)tn->td_user_list
					       .v[perm[j]])->id);
		}
		/* The Entra group this queue feeds, initially drifted from
		 * the source so a first sync has work: about 70 % of the
		 * resolvable agents, plus a couple of stale members. */
		sim_rng_guid(&r, gid);
		rs_snprintf(gname, sizeof(gname), "CQ %s", qname);
		grp = sim_group_add(tn, gid, gname);
		grp->mail_nickname = rs_strdup(qname);
		grp->description = rs_strdup("Teams call queue agents");
		for (j = 0; j < size; j++) {
			sim_td_user_t *tu = tn->td_user_list.v[perm[j]];
			sim_user_t *eu = sim_user_by_upn(tn, tu->email);
			if (!eu)
				eu = sim_user_by_mail(tn, tu->email);
			if (eu && sim_rng_range(&r, 0, 9) < 7)
				sim_idset_add(&grp->members, eu->id);
		}
		for (j = 0; j < 2 && tn->user_list.n; j++) {
			sim_user_t *eu = tn->user_list.v[sim_rng_next(&r) %
							 tn->user_list.n];
			sim_idset_add(&grp->members, eu->id);
		}
		if (tn->user_list.n)
			sim_idset_add(&grp->owners,
				      ((sim_user_t *)tn->user_list.v[0])->id);
		tn->map_queue[tn->n_map] = rs_strdup(qname);
		tn->map_group[tn->n_map] = rs_strdup(gid);
		tn->n_map++;
	}
	rs_free(perm);
	sim_throttle_size(tn);
}

/* Credentials and identity of tenant i (data comes separately). */
static sim_tenant_t *gen_tenant(rs_sim_t *sim, int i) {
	char id[16], buf[128];
	sim_rng_t r;
	sim_tenant_t *tn;

	rs_snprintf(id, sizeof(id), "t%03d", i + 1);
	tn = sim_tenant_new(sim, id);
	tenant_rng(&r, sim->gen.seed, id, "cred", 0);
	sim_rng_guid(&r, buf);
	tn->entra_tenant_id = rs_strdup(buf);
	rs_snprintf(buf, sizeof(buf), "%s.onmicrosoft.com", id);
	tn->domain = rs_strdup(buf);
	rs_snprintf(buf, sizeof(buf), "%s-corp.example", id);
	tn->mail_domain = rs_strdup(buf);
	sim_rng_guid(&r, buf);
	tn->graph_client_id = rs_strdup(buf);
	{
		/* Entra secret values look like "xyz8Q~<34 chars>". */
		char s[48], p[24];
		rand_chars(&r,
			   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789._-",
			   s + 5, 34);
		memcpy(s, "sim8Q", 5);
		s[4] = '~';
		tn->graph_client_secret = rs_strdup(s);
		rand_chars(&r, "abcdefghijkmnpqrstuvwxyz23456789", p, 16);
		tn->pfx_password = rs_strdup(p);
	}
	rs_snprintf(buf, sizeof(buf), "acct-%s", id);
	tn->td_account = rs_strdup(buf);
	hex_id(&r, buf, 32);
	tn->td_client_id = rs_strdup(buf);
	rand_chars(&r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		       "0123456789",
		   buf, 40);
	tn->td_client_secret = rs_strdup(buf);
	return tn;
}

static rs_err_t write_file(const char *path, const void *data, size_t len,
			   char *errstr, size_t errstr_size) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char eb[128];
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		rs_snprintf(errstr, errstr_size, "%s: %s", path,
			    rs_strerror(errno, eb, sizeof(eb)));
		if (fd >= 0)
			close(fd);
		return RS_ERR_IO;
	}
	close(fd);
	return RS_OK;
}

rs_err_t sim_gen_build(rs_sim_t *sim, const rs_sim_gen_t *gen, char *errstr,
		       size_t errstr_size) {
	sim_tenant_t **all, **certs;
	int i, n_cert = 0;
	rs_err_t err = RS_OK;

	sim->gen = *gen;
	rs_free(sim->pfx_dir);
	sim->pfx_dir = gen->pfx_dir ? rs_strdup(gen->pfx_dir) : NULL;
	sim->gen.pfx_dir = sim->pfx_dir;
	all = rs_calloc((size_t)gen->tenants, sizeof(*all));
	certs = rs_calloc((size_t)gen->tenants, sizeof(*certs));
	for (i = 0; i < gen->tenants; i++) {
		all[i] = gen_tenant(sim, i);
		if (gen->cert_every > 0 && (i + 1) % gen->cert_every == 0) {
			/* Certificate-only: no secret to fall back on. */
			sim_tenant_t *tn = all[i];
			rs_wipe(tn->graph_client_secret,
				strlen(tn->graph_client_secret));
			rs_free(tn->graph_client_secret);
			tn->graph_client_secret = NULL;
			certs[n_cert++] = tn;
		}
	}
	err = gen_certs(sim, certs, n_cert, errstr, errstr_size);
	for (i = 0; !err && i < n_cert && sim->pfx_dir; i++) {
		char path[1024];
		mkdirs(sim->pfx_dir);
		rs_snprintf(path, sizeof(path), "%s/%s.pfx", sim->pfx_dir,
			    certs[i]->id);
		err = write_file(path, certs[i]->pfx, certs[i]->pfx_len,
				 errstr, errstr_size);
	}
	for (i = 0; i < gen->tenants; i++) {
		if (err) {
			sim_tenant_destroy(all[i]);
			continue;
		}
		sim_tenants_add(sim, all[i]);
		sim_tenant_wrlock(all[i]);
		sim_gen_tenant_data(sim, all[i], i);
		sim_tenant_unlock(all[i]);
	}
	rs_free(all);
	rs_free(certs);
	if (err)
		return err;
	sim->generated = true;
	rs_free(sim->loaded_path);
	sim->loaded_path = NULL;
	return RS_OK;
}

/*
 * Replaces the whole dataset under the state write lock: callers do this
 * before serving or between test phases, never from a handler.  Tokens of
 * the previous dataset are dropped (their tenants no longer exist).
 */
rs_err_t rs_sim_generate(rs_sim_t *sim, const rs_sim_gen_t *gen,
			 char *errstr, size_t errstr_size) {
	rs_err_t err;
	if (gen->tenants < 1 || gen->users < 0 || gen->queues < 0) {
		rs_snprintf(errstr, errstr_size,
			    "generator: tenants must be >= 1");
		return RS_ERR_INVALID_ARG;
	}
	pthread_rwlock_wrlock(&sim->state_lock);
	sim_tenants_clear(sim);
	err = sim_gen_build(sim, gen, errstr, errstr_size);
	pthread_rwlock_unlock(&sim->state_lock);
	sim_tokens_clear(sim);
	return err;
}

/* ---- churn --------------------------------------------------------- */

/* One round of source-side changes, deterministic from (seed, tenant,
 * round) and the current state: joins, leaves, moves between queues, new
 * people (Entra + Talkdesk) and departures (gone from Talkdesk; half of
 * them also deleted from Entra). */
cJSON *sim_gen_churn(sim_tenant_t *tn, int changes) {
	rs_sim_t *sim = tn->sim;
	sim_rng_t r;
	int c, joins = 0, leaves = 0, moves = 0, news = 0, departs = 0;
	cJSON *o = cJSON_CreateObject();

	tn->churn_round++;
	tenant_rng(&r, sim->gen.seed, tn->id, "churn", tn->churn_round);
	for (c = 0; c < changes; c++) {
		int what = (int)sim_rng_range(&r, 0, 99);
		size_t nq = tn->td_queue_list.n, nu = tn->td_user_list.n;
		sim_td_queue_t *q, *q2;
		sim_td_user_t *u;

		if (!nq || !nu)
			what = 85; /* only "new person" is possible */
		if (what < 35) {
			q = tn->td_queue_list.v[sim_rng_next(&r) % nq];
			u = tn->td_user_list.v[sim_rng_next(&r) % nu];
			if (sim_idset_add(&q->users, u->id)) {
				sim_chg_append(tn, SIM_CHG_TD_QUEUE_ADD, q->id,
					       u->id);
				q->updated_ms = rs_wall_ms();
				joins++;
			}
		} else if (what < 60) {
			q = tn->td_queue_list.v[sim_rng_next(&r) % nq];
			if (!q->users.n)
				continue;
			u = sim_td_user_get(
				tn, q->users.items[sim_rng_next(&r) %
						   q->users.n]);
			if (u && sim_idset_del(&q->users, u->id)) {
				sim_chg_append(tn, SIM_CHG_TD_QUEUE_DEL, q->id,
					       u->id);
				q->updated_ms = rs_wall_ms();
				leaves++;
			}
		} else if (what < 80) {
			q = tn->td_queue_list.v[sim_rng_next(&r) % nq];
			q2 = tn->td_queue_list.v[sim_rng_next(&r) % nq];
			if (q == q2 || !q->users.n)
				continue;
			u = sim_td_user_get(
				tn, q->users.items[sim_rng_next(&r) %
						   q->users.n]);
			if (!u)
				continue;
			sim_idset_del(&q->users, u->id);
			sim_chg_append(tn, SIM_CHG_TD_QUEUE_DEL, q->id, u->id);
			if (sim_idset_add(&q2->users, u->id))
				sim_chg_append(tn, SIM_CHG_TD_QUEUE_ADD, q2->id,
					       u->id);
			q->updated_ms = q2->updated_ms = rs_wall_ms();
			moves++;
		} else if (what < 92) {
			char id[37], tdid[25], mail[200], disp[96];
			int k = (int)(tn->user_list.n + tn->churn_round * 1000 +
				      (uint64_t)c);
			sim_rng_guid(&r, id);
			hex_id(&r, tdid, 24);
			rs_snprintf(disp, sizeof(disp), "New Hire %d", k);
			rs_snprintf(mail, sizeof(mail), "new.hire%d@%s", k,
				    tn->mail_domain);
			sim_user_add(tn, id, mail, mail, disp);
			u = sim_td_user_add(tn, tdid, mail, disp);
			if (nq) {
				q = tn->td_queue_list.v[sim_rng_next(&r) % nq];
				if (sim_idset_add(&q->users, u->id))
					sim_chg_append(tn,
						       SIM_CHG_TD_QUEUE_ADD,
						       q->id, u->id);
			}
			news++;
		} else {
			sim_user_t *eu;
			u = tn->td_user_list.v[sim_rng_next(&r) % nu];
			eu = sim_user_by_upn(tn, u->email);
			if (!eu)
				eu = sim_user_by_mail(tn, u->email);
			if (eu && sim_rng_range(&r, 0, 1))
				sim_user_delete(tn, eu);
			sim_td_user_delete(tn, u);
			departs++;
		}
	}
	cJSON_AddNumberToObject(o, "round", (double)tn->churn_round);
	cJSON_AddNumberToObject(o, "joins", joins);
	cJSON_AddNumberToObject(o, "leaves", leaves);
	cJSON_AddNumberToObject(o, "moves", moves);
	cJSON_AddNumberToObject(o, "new_users", news);
	cJSON_AddNumberToObject(o, "departed_users", departs);
	return o;
}
