/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  A run's state in the Prometheus text exposition format: the writer,
 *	  the atomic file and the push to a Pushgateway.
 *
 * common/metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include "metrics.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cancel.h"
#include "conninfo.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"

typedef struct sample
{
	char  *labels; /* "{a=\"b\",...}" as printed */
	double value;
} sample;

typedef struct family
{
	char   *name; /* with the prefix */
	char   *help;
	sample *samples;
	int     n, cap;
} family;

struct metrics
{
	char   *prefix;
	char   *command;
	family *families;
	int     n, cap;
};

bool
metrics_wanted(const metrics_target *t)
{
	return t != NULL && ((t->file && t->file[0]) || (t->push && t->push[0]));
}

metrics *
metrics_new(const char *prefix, const char *command)
{
	metrics *m = xcalloc(1, sizeof(metrics));

	m->prefix = xstrdup(prefix);
	m->command = xstrdup(command);
	return m;
}

static family *
find_family(const metrics *m, const char *name)
{
	size_t plen = strlen(m->prefix);

	for (int i = 0; i < m->n; i++)
		if (strncmp(m->families[i].name, m->prefix, plen) == 0 &&
			strcmp(m->families[i].name + plen, name) == 0)
			return &m->families[i];
	return NULL;
}

void
metrics_declare(metrics *m, const char *name, const char *help)
{
	family *f;

	if (find_family(m, name) != NULL)
		return;
	ARRAY_GROW(m->families, m->n + 1, m->cap);
	f = &m->families[m->n++];
	memset(f, 0, sizeof(*f));
	f->name = xasprintf("%s%s", m->prefix, name);
	f->help = xstrdup(help);
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static void
append_label_value(textbuf *sb, const char *v)
{
	for (; *v; v++)
	{
		if (*v == '\\')
			textbuf_append(sb, "\\\\");
		else if (*v == '"')
			textbuf_append(sb, "\\\"");
		else if (*v == '\n')
			textbuf_append(sb, "\\n");
		else
			textbuf_append_char(sb, *v);
	}
}

/* {command="...",name="value",...}: the run's command first, then the caller's order. */
static char *
label_text(const metrics *m, const char *const *labels)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_append(&sb, "{command=\"");
	append_label_value(&sb, m->command);
	textbuf_append_char(&sb, '"');
	for (int i = 0; labels != NULL && labels[i] != NULL && labels[i + 1] != NULL; i += 2)
	{
		textbuf_appendf(&sb, ",%s=\"", labels[i]);
		append_label_value(&sb, labels[i + 1]);
		textbuf_append_char(&sb, '"');
	}
	textbuf_append_char(&sb, '}');
	return textbuf_detach(&sb);
}

void
metrics_set(metrics *m, const char *name, const char *const *labels, double value)
{
	family *f = find_family(m, name);
	char   *text;

	if (f == NULL)
		return;
	text = label_text(m, labels);
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->samples[i].labels, text) == 0)
		{
			f->samples[i].value = value;
			free(text);
			return;
		}
	ARRAY_GROW(f->samples, f->n + 1, f->cap);
	f->samples[f->n].labels = text;
	f->samples[f->n].value = value;
	f->n++;
}

static int
compare_families(const void *a, const void *b)
{
	return strcmp(((const family *) a)->name, ((const family *) b)->name);
}

static int
compare_samples(const void *a, const void *b)
{
	return strcmp(((const sample *) a)->labels, ((const sample *) b)->labels);
}

/* Whole numbers without a fraction or exponent (counts, timestamps, bytes). */
static void
append_value(textbuf *sb, double v)
{
	if (isnan(v))
		textbuf_append(sb, "NaN");
	else if (v == floor(v) && fabs(v) < 1e15)
		textbuf_appendf(sb, "%lld", (long long) v);
	else
		textbuf_appendf(sb, "%.9g", v);
}

/* HELP text escapes only \\ and newline. */
static void
append_help(textbuf *sb, const char *help)
{
	for (; *help; help++)
	{
		if (*help == '\\')
			textbuf_append(sb, "\\\\");
		else if (*help == '\n')
			textbuf_append(sb, "\\n");
		else
			textbuf_append_char(sb, *help);
	}
}

char *
metrics_render(const metrics *m)
{
	textbuf sb;

	/* sorting in place is harmless: the order is the render's business only */
	qsort(m->families, (size_t) m->n, sizeof(family), compare_families);
	textbuf_init(&sb);
	for (int i = 0; i < m->n; i++)
	{
		family *f = &m->families[i];

		/* a family without samples is left out: a POST of it would erase the Pushgateway's */
		if (f->n == 0)
			continue;
		qsort(f->samples, (size_t) f->n, sizeof(sample), compare_samples);
		textbuf_appendf(&sb, "# HELP %s ", f->name);
		append_help(&sb, f->help);
		textbuf_appendf(&sb, "\n# TYPE %s gauge\n", f->name);
		for (int k = 0; k < f->n; k++)
		{
			textbuf_appendf(&sb, "%s%s ", f->name, f->samples[k].labels);
			append_value(&sb, f->samples[k].value);
			textbuf_append_char(&sb, '\n');
		}
	}
	return textbuf_detach(&sb);
}

/* The directory of path, for the temporary file and its fsync; caller frees. */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t) (slash - path));
}

static bool
write_all(int fd, const char *text, size_t len)
{
	while (len > 0)
	{
		ssize_t w = write(fd, text, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		text += w;
		len -= (size_t) w;
	}
	return true;
}

bool
metrics_write_file(const char *path, const char *text, char *why, size_t whylen)
{
	char *dir = dir_of(path);
	char *tmp = xasprintf("%s.tmp.XXXXXX", path);
	int   fd = mkstemp(tmp);
	bool  ok = false;

	if (fd < 0)
	{
		snprintf(why, whylen, "could not create a temporary file in \"%s\": %s", dir, strerror(errno));
		free(tmp);
		free(dir);
		return false;
	}
	/* mkstemp makes it 0600: the collector runs as another user */
	if (fchmod(fd, 0644) != 0 || !write_all(fd, text, strlen(text)))
		snprintf(why, whylen, "could not write \"%s\": %s", tmp, strerror(errno));
	else if (fsync(fd) != 0)
		snprintf(why, whylen, "could not fsync \"%s\": %s", tmp, strerror(errno));
	else
		ok = true;
	if (close(fd) != 0 && ok)
	{
		snprintf(why, whylen, "could not close \"%s\": %s", tmp, strerror(errno));
		ok = false;
	}
	if (ok && rename(tmp, path) != 0)
	{
		snprintf(why, whylen, "could not rename \"%s\" to it: %s", tmp, strerror(errno));
		ok = false;
	}
	if (!ok)
		(void) unlink(tmp);
	else
	{
		/* the rename is durable once the directory is; a failure here leaves a whole file anyway */
		int dfd = open(dir, O_RDONLY | O_DIRECTORY);

		if (dfd >= 0)
		{
			(void) fsync(dfd);
			close(dfd);
		}
	}
	free(tmp);
	free(dir);
	return ok;
}

bool
metrics_check_file(const char *path, char *why, size_t whylen)
{
	struct stat st;
	char       *dir = dir_of(path);
	char       *tmp = xasprintf("%s.tmp.XXXXXX", path);
	int         fd;
	bool        ok = false;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(why, whylen, "\"%s\" is a directory, not a file", path);
	else if ((fd = mkstemp(tmp)) < 0)
		snprintf(why, whylen, "could not create a temporary file in \"%s\": %s", dir, strerror(errno));
	else
	{
		close(fd);
		(void) unlink(tmp);
		ok = true;
	}
	free(tmp);
	free(dir);
	return ok;
}

bool
metrics_read_sample(const char *path, const char *series, double *value)
{
	FILE  *f = fopen(path, "r");
	char  *line = NULL;
	size_t cap = 0;
	size_t len = strlen(series);
	bool   found = false;

	if (f == NULL)
		return false;
	while (!found && getline(&line, &cap, f) > 0)
	{
		char *end;

		if (strncmp(line, series, len) != 0 || line[len] != ' ')
			continue;
		*value = strtod(line + len + 1, &end);
		found = end != line + len + 1 && (*end == '\n' || *end == '\0' || *end == ' ');
	}
	free(line);
	fclose(f);
	return found;
}

/* ---- the push URL's password ------------------------------------------------------ */

/* url's authority: after "scheme://", up to the first '/', '?' or '#'.  false without "://". */
static bool
url_authority(const char *url, size_t *start, size_t *end)
{
	const char *sep = strstr(url, "://");

	if (sep == NULL)
		return false;
	*start = (size_t) (sep + 3 - url);
	*end = *start + strcspn(url + *start, "/?#");
	return true;
}

/* The password of url's userinfo (up to the authority's last '@'): offset and length. */
static bool
url_password(const char *url, size_t *off, size_t *len)
{
	size_t      start, end;
	const char *at = NULL;
	const char *colon;

	if (!url_authority(url, &start, &end))
		return false;
	for (size_t i = start; i < end; i++)
		if (url[i] == '@')
			at = url + i;
	if (at == NULL)
		return false;
	colon = memchr(url + start, ':', (size_t) (at - (url + start)));
	if (colon == NULL)
		return false;
	*off = (size_t) (colon + 1 - url);
	*len = (size_t) (at - colon - 1);
	return true;
}

/*
 * A password with an unencoded '@' (two in the authority) or '/' (the
 * authority then ends inside the password: "user:pa", whose "port" is no
 * number, and an '@' follows before the query).  libcurl would take part
 * of the password for the host, and show it.
 */
static bool
url_needs_encoding(const char *url)
{
	size_t      start, end, rest;
	const char *colon = NULL;
	int         ats = 0;

	if (!url_authority(url, &start, &end))
		return false;
	for (size_t i = start; i < end; i++)
	{
		ats += url[i] == '@';
		if (url[i] == ':')
			colon = url + i;
	}
	if (ats != 0)
		return ats > 1;
	rest = strcspn(url + end, "?#");
	if (url[start] == '[' || colon == NULL || memchr(url + end, '@', rest) == NULL)
		return false;
	if (colon + 1 == url + end)
		return true;
	for (const char *p = colon + 1; p < url + end; p++)
		if (*p < '0' || *p > '9')
			return true;
	return false;
}

char *
metrics_url_masked(const char *url)
{
	size_t start, end, off, len;

	if (url_needs_encoding(url) && url_authority(url, &start, &end))
		return xasprintf("%.*s***", (int) start, url);
	if (!url_password(url, &off, &len))
		return xstrdup(url);
	return xasprintf("%.*s***%s", (int) off, url, url + off + len);
}

bool
metrics_push_url_check(const char *url, char *why, size_t whylen)
{
	char *shown;

	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
	{
		if (!url_needs_encoding(url))
			return true;
		if (why != NULL)
			snprintf(why, whylen, "%s", CONNINFO_ENCODE_ADVICE);
		return false;
	}
	if (why != NULL)
	{
		shown = metrics_url_masked(url);
		snprintf(why, whylen, "\"%s\" is not an http:// or https:// URL", shown);
		free(shown);
	}
	return false;
}

char *
metrics_take_url_arg(char *arg)
{
	/* configuration, written while parsing options only: kept for the run */
	static char *copy = NULL;
	size_t       start, end, off, len;

	free(copy);
	copy = xstrdup(arg);
	if (url_needs_encoding(arg) && url_authority(arg, &start, &end))
		memset(arg + start, '*', strlen(arg + start));
	else if (url_password(arg, &off, &len))
		memset(arg + off, '*', len);
	return copy;
}

/* Overwrite every copy of url's password in text (libcurl's error words) with '*'. */
static void
mask_password_in(char *text, const char *url)
{
	size_t off, len;
	char  *secret;

	if (!url_password(url, &off, &len) || len == 0)
		return;
	secret = xstrndup(url + off, len);
	for (char *p = strstr(text, secret); p != NULL; p = strstr(p + len, secret))
		memset(p, '*', len);
	free(secret);
}

/* ---- the push: libcurl through dlopen --------------------------------------------- */

/* libcurl's stable ABI numbers (curl/curl.h); its headers need not be installed. */
#define CURLOPT_WRITEDATA           10001
#define CURLOPT_URL                 10002
#define CURLOPT_ERRORBUFFER         10010
#define CURLOPT_POSTFIELDS          10015
#define CURLOPT_USERAGENT           10018
#define CURLOPT_HTTPHEADER          10023
#define CURLOPT_CUSTOMREQUEST       10036
#define CURLOPT_WRITEFUNCTION       20011
#define CURLOPT_POSTFIELDSIZE_LARGE 30120
#define CURLOPT_NOSIGNAL            99
#define CURLOPT_TIMEOUT_MS          155
#define CURLOPT_CONNECTTIMEOUT_MS   156
#define CURLOPT_PROTOCOLS           181
#define CURLOPT_NOPROGRESS          43
#define CURLOPT_XFERINFODATA        10057
#define CURLOPT_XFERINFOFUNCTION    20219
#define CURLE_ABORTED_BY_CALLBACK   42
#define CURLPROTO_HTTP              1L
#define CURLPROTO_HTTPS             2L
#define CURLINFO_RESPONSE_CODE      0x200002
#define CURL_ERROR_SIZE             256

/* a push's bounds: 5s to connect, 30s in all (metrics.h) */
#define PUSH_CONNECT_MS 5000L
#define PUSH_TOTAL_MS   30000L

typedef struct curl_api
{
	void *handle;
	void *(*easy_init)(void);
	int (*easy_setopt)(void *, int, ...);
	int (*easy_perform)(void *);
	int (*easy_getinfo)(void *, int, ...);
	void (*easy_cleanup)(void *);
	const char *(*easy_strerror)(int);
	void *(*slist_append)(void *, const char *);
	void (*slist_free_all)(void *);
} curl_api;

/* The first bytes of the answer, for the error message. */
typedef struct answer
{
	char   text[200];
	size_t len;
} answer;

static size_t
keep_answer(char *data, size_t size, size_t nmemb, void *arg)
{
	answer *a = arg;
	size_t  n = size * nmemb;
	size_t  room = sizeof(a->text) - 1 - a->len;
	size_t  take = n < room ? n : room;

	memcpy(a->text + a->len, data, take);
	a->len += take;
	a->text[a->len] = '\0';
	return n;
}

static bool
curl_load(curl_api *api, char *why, size_t whylen)
{
	memset(api, 0, sizeof(*api));
	api->handle = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (api->handle == NULL)
	{
		snprintf(why, whylen,
				 "libcurl.so.4 could not be loaded (%s): install libcurl4, or push the --metrics-file with "
				 "curl --data-binary (docs/deployment.md)",
				 dlerror());
		return false;
	}
	/* POSIX: a function pointer may be read from dlsym's object pointer this way */
	*(void **) &api->easy_init = dlsym(api->handle, "curl_easy_init");
	*(void **) &api->easy_setopt = dlsym(api->handle, "curl_easy_setopt");
	*(void **) &api->easy_perform = dlsym(api->handle, "curl_easy_perform");
	*(void **) &api->easy_getinfo = dlsym(api->handle, "curl_easy_getinfo");
	*(void **) &api->easy_cleanup = dlsym(api->handle, "curl_easy_cleanup");
	*(void **) &api->easy_strerror = dlsym(api->handle, "curl_easy_strerror");
	*(void **) &api->slist_append = dlsym(api->handle, "curl_slist_append");
	*(void **) &api->slist_free_all = dlsym(api->handle, "curl_slist_free_all");
	if (api->easy_init && api->easy_setopt && api->easy_perform && api->easy_getinfo && api->easy_cleanup &&
		api->easy_strerror && api->slist_append && api->slist_free_all)
		return true;
	snprintf(why, whylen, "libcurl.so.4 lacks the functions of libcurl's easy interface");
	dlclose(api->handle);
	return false;
}

/*
 * libcurl's progress callback, called about once a second and whenever its
 * poll() returns (a signal makes it return): a signal that arrives during
 * the push ends it at once.  The handler only set the flag; curl_easy_perform
 * is not interruptible otherwise (CURLOPT_NOSIGNAL: no alarm() of its own).
 */
static int
push_progress(void *arg, int64_t dltotal, int64_t dlnow, int64_t ultotal, int64_t ulnow)
{
	(void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
	return *(const int *) arg == 0 && cancel_pending() != 0;
}

/* One transfer on a loaded libcurl; true on a 2xx answer. */
static bool
curl_send(const curl_api *api, const char *url, const char *method, const char *text, char *why,
		  size_t whylen)
{
	void  *curl = api->easy_init();
	void  *headers = NULL;
	char   errbuf[CURL_ERROR_SIZE] = "";
	answer ans = {"", 0};
	long   status = 0;
	int    res;
	char  *shown;
	/* an interrupted run still reports its exit code, within the cancel's bound */
	int  signal_before = cancel_pending();
	long total_ms = signal_before ? CANCEL_CONFIRM_MS : PUSH_TOTAL_MS;

	if (curl == NULL)
	{
		snprintf(why, whylen, "curl_easy_init failed");
		return false;
	}
	headers = api->slist_append(headers, "Content-Type: text/plain; version=0.0.4");
	headers = api->slist_append(headers, "Expect:");
	api->easy_setopt(curl, CURLOPT_URL, url);
	api->easy_setopt(curl, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
	api->easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	api->easy_setopt(curl, CURLOPT_POSTFIELDS, text);
	api->easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (int64_t) strlen(text));
	api->easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	api->easy_setopt(curl, CURLOPT_USERAGENT, "pg-schema-toolkit");
	/* our own signal handlers stay in charge; the bounds replace curl's alarm() */
	api->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	api->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
					 total_ms < PUSH_CONNECT_MS ? total_ms : PUSH_CONNECT_MS);
	api->easy_setopt(curl, CURLOPT_TIMEOUT_MS, total_ms);
	api->easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	api->easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, push_progress);
	api->easy_setopt(curl, CURLOPT_XFERINFODATA, &signal_before);
	api->easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	api->easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_answer);
	api->easy_setopt(curl, CURLOPT_WRITEDATA, &ans);
	res = api->easy_perform(curl);
	if (res == 0)
		api->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	api->slist_free_all(headers);
	api->easy_cleanup(curl);
	if (res == CURLE_ABORTED_BY_CALLBACK)
	{
		snprintf(why, whylen, "interrupted by %s", cancel_signal_name());
		return false;
	}
	if (res != 0)
	{
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : api->easy_strerror(res));
		mask_password_in(why, url);
		return false;
	}
	if (status >= 200 && status < 300)
		return true;
	ans.text[strcspn(ans.text, "\r\n")] = '\0';
	shown = metrics_url_masked(url);
	snprintf(why, whylen, "%s %s answered HTTP %ld%s%s", method, shown, status, ans.text[0] ? ": " : "",
			 ans.text);
	free(shown);
	mask_password_in(why, url);
	return false;
}

bool
metrics_push(const char *url, const char *method, const char *text, char *why, size_t whylen)
{
	curl_api api;
	bool     ok;

	if (!curl_load(&api, why, whylen))
		return false;
	ok = curl_send(&api, url, method, text, why, whylen);
	/* libcurl stays loaded: its TLS libraries do not like being unloaded */
	return ok;
}

/* ---- the end of a run -------------------------------------------------------------- */

/* The run's own series; *carried says whether a last success is known. */
static void
add_run_series(metrics *m, const metrics_target *t, int rc, double duration_s, bool *known)
{
	double now = (double) time(NULL);
	double last_success = 0;
	char  *series;

	metrics_declare(m, "last_run_exit_code", "Exit code of the last run (0 success; see --help).");
	metrics_declare(m, "last_run_timestamp_seconds", "When the last run ended, as a Unix time.");
	metrics_declare(m, "last_run_duration_seconds", "How long the last run took.");
	metrics_declare(m, "last_success_timestamp_seconds",
					"When a run last ended with exit code 0, as a Unix time (kept across failed runs).");
	metrics_set(m, "last_run_exit_code", NULL, rc);
	metrics_set(m, "last_run_timestamp_seconds", NULL, now);
	metrics_set(m, "last_run_duration_seconds", NULL, duration_s);
	*known = rc == EXIT_OK;
	if (*known)
		last_success = now;
	else if (t->file && t->file[0])
	{
		char *labels = label_text(m, NULL);

		series = xasprintf("%slast_success_timestamp_seconds%s", m->prefix, labels);
		*known = metrics_read_sample(t->file, series, &last_success);
		free(series);
		free(labels);
	}
	if (*known)
		metrics_set(m, "last_success_timestamp_seconds", NULL, last_success);
}

int
metrics_finish(metrics *m, const metrics_target *t, int rc, double duration_s)
{
	char  why[512];
	bool  known;
	bool  ok = true;
	bool  signal_before = cancel_pending() != 0;
	char *text;

	if (m == NULL || !metrics_wanted(t))
		return rc;
	/*
	 * The run holding the lock writes when it ends: a cron tick that found it
	 * busy must not replace its states with none (alerts would resolve).
	 */
	if (rc == EXIT_LOCKED)
	{
		log_event(LOG_LEVEL_DEBUG, "metrics_skipped", NULL,
				  "metrics not written: another run holds the lock and writes them when it ends");
		return rc;
	}
	add_run_series(m, t, rc, duration_s, &known);
	text = metrics_render(m);
	if (t->file && t->file[0] && !metrics_write_file(t->file, text, why, sizeof(why)))
	{
		log_event(LOG_LEVEL_ERROR, "metrics_write_failed", NULL,
				  "could not write the metrics file \"%s\": %s", t->file, why);
		ok = false;
	}
	/* PUT replaces the group; POST keeps the last success the Pushgateway holds */
	if (t->push && t->push[0] && !metrics_push(t->push, known ? "PUT" : "POST", text, why, sizeof(why)))
	{
		char *shown = metrics_url_masked(t->push);

		if (!signal_before && cancel_pending())
		{
			/* the operator stopped the push: say so last, with the run's own outcome */
			free(text);
			log_event(
				LOG_LEVEL_ERROR, "interrupted", NULL,
				"interrupted by %s while pushing the metrics to \"%s\" (the run had ended with exit %d; "
				"the push was abandoned)",
				cancel_signal_name(), shown, rc);
			free(shown);
			return cancel_exit_code();
		}
		log_event(LOG_LEVEL_ERROR, "metrics_push_failed", NULL, "could not push the metrics to \"%s\": %s",
				  shown, why);
		free(shown);
		ok = false;
	}
	free(text);
	if (!ok && rc == EXIT_OK)
	{
		log_event(LOG_LEVEL_ERROR, "metrics_failed", NULL,
				  "exit %d: the run succeeded but its metrics were not delivered", EXIT_CHANGE_FAILED);
		return EXIT_CHANGE_FAILED;
	}
	return rc;
}

void
metrics_free(metrics *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->n; i++)
	{
		for (int k = 0; k < m->families[i].n; k++)
			free(m->families[i].samples[k].labels);
		free(m->families[i].samples);
		free(m->families[i].name);
		free(m->families[i].help);
	}
	free(m->families);
	free(m->prefix);
	free(m->command);
	free(m);
}
