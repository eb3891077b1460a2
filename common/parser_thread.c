/*-------------------------------------------------------------------------
 *
 * parser_thread.c
 *	  libpg_query's parser on a thread of its own, with the depth limit.
 *
 * The lexer has run first, on the caller's stack (it does not recurse); its
 * tokens give each statement's length, which sizes the stack of the thread
 * that then runs the parser.  The depth of the parser's protobuf output is
 * measured on the wire bytes without recursion, and only a tree within
 * SQL_PARSE_MAX_DEPTH is unpacked (protobuf-c's unpack recurses, about 1kB
 * per level).
 *
 * common/parser_thread.c
 *
 *-------------------------------------------------------------------------
 */
#include "parser_thread.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "memory.h"
#include "sqlpos.h"

/*
 * Stack of the parser thread: a base, plus an amount per token of the
 * longest statement.  Measured with libpg_query 15-4.0 by painting the
 * stack: its parser, node output and packing take up to about 180 bytes
 * per token of a left-associative chain ("||", UNION, "::", ISNULL) and
 * about 530 per token of nested subqueries, whose nesting bison caps at
 * a few thousand; protobuf-c's unpack takes about 960 bytes per tree
 * level, 10MB for SQL_PARSE_MAX_DEPTH.  The base covers the unpack and the
 * capped nestings; the per-token part is several times the chains' need.
 * Only the pages touched are ever backed by memory.
 */
#define PARSER_STACK_BASE      ((size_t) 32 << 20)
#define PARSER_STACK_PER_TOKEN ((size_t) 768)
/* what the frames below a nested call may already use of the thread's stack */
#define PARSER_STACK_NESTED_MARGIN ((size_t) 1 << 20)
/* sql_call_with_parser_room: the base, twice, so that most parses nest */
#define PARSER_STACK_ROOM (PARSER_STACK_BASE * 2)

/* a small text's parse runs in place on a thread of sql_call_with_parser_room() */
_Static_assert(PARSER_STACK_BASE + SQL_PARSE_SMALL_BYTES * PARSER_STACK_PER_TOKEN +
					   PARSER_STACK_NESTED_MARGIN <=
				   PARSER_STACK_ROOM,
			   "SQL_PARSE_SMALL_BYTES must fit the parser room");
_Static_assert(SQL_PARSE_SMALL_BYTES <= SQL_PARSE_MAX_TOKENS && SQL_PARSE_SMALL_BYTES <= SQL_PARSE_MAX_DEPTH,
			   "a small text must be unable to break the limits");

/*
 * The stack size of the thread this runs on when call_with_stack started
 * it; 0 on any other thread.  A call that fits runs in place: a batch of
 * parses on one thread starts no thread per parse.
 */
static _Thread_local size_t thread_stack_bytes = 0;

/* wire types of the protobuf encoding */
#define WIRE_VARINT  0
#define WIRE_FIXED64 1
#define WIRE_LENGTH  2
#define WIRE_FIXED32 5

/* field numbers in pg_query.proto */
#define FIELD_PARSE_RESULT_STMTS 2
#define FIELD_RAW_STMT_LOCATION  2

/* Read a varint at *pos, below end; false if it is cut off or too long. */
static bool
read_varint(const uint8_t *buf, size_t end, size_t *pos, uint64_t *value)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64 && *pos < end; shift += 7)
	{
		uint8_t b = buf[(*pos)++];

		v |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
		{
			*value = v;
			return true;
		}
	}
	return false;
}

/*
 * Skip the value of a field of wire type wire_type at *pos; for a
 * length-delimited one, *len is its length and *pos is left at its start.
 * False on a malformed or unsupported encoding.
 */
static bool
read_field_value(const uint8_t *buf, size_t end, size_t *pos, unsigned wire_type, uint64_t *len)
{
	uint64_t v;

	*len = 0;
	switch (wire_type)
	{
		case WIRE_VARINT:
			return read_varint(buf, end, pos, &v);
		case WIRE_FIXED64:
		case WIRE_FIXED32:
			v = wire_type == WIRE_FIXED64 ? 8 : 4;
			if (end - *pos < v)
				return false;
			*pos += v;
			return true;
		case WIRE_LENGTH:
			if (!read_varint(buf, end, pos, len) || *len > end - *pos)
				return false;
			return true;
		default:
			return false;
	}
}

/* One open message while measuring depth: where it ends, what it is. */
typedef struct wire_frame
{
	size_t                            end;
	const ProtobufCMessageDescriptor *desc;
} wire_frame;

/*
 * The index of the first statement of the packed ParseResult buf whose tree
 * is deeper than max_depth messages (the statement's node counting 1), -1
 * when none is, -2 when buf is malformed.  Iterates with its own stack of
 * at most max_depth + 2 frames (grown as deep as the tree), never
 * recursing.
 */
static int
first_too_deep(const uint8_t *buf, size_t len, int max_depth)
{
	wire_frame *stack = NULL;
	int         cap = 0;
	int         top = 0; /* stack[0] is the ParseResult, [1] a RawStmt */
	int         stmt = -1;
	int         result = -1;
	size_t      pos = 0;

	/* most trees are shallow: the stack grows with the depth met */
	ARRAY_GROW(stack, 64, cap);

	stack[0].end = len;
	stack[0].desc = &pg_query__parse_result__descriptor;
	while (result == -1)
	{
		uint64_t                        key;
		uint64_t                        n;
		const ProtobufCFieldDescriptor *f;

		if (pos == stack[top].end)
		{
			if (top == 0)
				break;
			top--;
			continue;
		}
		if (!read_varint(buf, stack[top].end, &pos, &key) ||
			!read_field_value(buf, stack[top].end, &pos, (unsigned) (key & 7), &n))
		{
			result = -2;
			break;
		}
		if ((key & 7) != WIRE_LENGTH)
			continue;
		f = protobuf_c_message_descriptor_get_field(stack[top].desc, (unsigned) (key >> 3));
		if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
		{
			pos += n;
			continue;
		}
		if (top == 0)
			stmt++;
		/* the new message sits at top + 1, depth top below the statement */
		if (top >= max_depth + 1)
		{
			result = stmt;
			break;
		}
		top++;
		ARRAY_GROW(stack, top + 1, cap);
		stack[top].end = pos + n;
		stack[top].desc = f->descriptor;
	}
	free(stack);
	return result;
}

/*
 * stmt_location of statement index of the packed ParseResult buf, reading
 * only the top two levels; 0 (the value protobuf leaves out) if absent.
 */
static int
raw_stmt_location(const uint8_t *buf, size_t len, int index)
{
	size_t pos = 0;

	while (pos < len)
	{
		uint64_t key;
		uint64_t n;

		if (!read_varint(buf, len, &pos, &key) || !read_field_value(buf, len, &pos, (unsigned) (key & 7), &n))
			return 0;
		if ((key & 7) == WIRE_LENGTH && (key >> 3) == FIELD_PARSE_RESULT_STMTS && index-- == 0)
		{
			size_t end = pos + n;

			while (pos < end)
			{
				uint64_t v;

				if (!read_varint(buf, end, &pos, &key))
					return 0;
				if ((key >> 3) == FIELD_RAW_STMT_LOCATION && (key & 7) == WIRE_VARINT)
					return read_varint(buf, end, &pos, &v) && v <= INT_MAX ? (int) v : 0;
				if (!read_field_value(buf, end, &pos, (unsigned) (key & 7), &n))
					return 0;
				pos += n;
			}
			return 0;
		}
		pos += n;
	}
	return 0;
}

/*
 * The memory of one unpacked tree.  protobuf-c's unpack makes about a
 * hundred allocations for a short migration, and free_unpacked walks the
 * whole tree again to give them back one by one; a tree is only ever freed
 * whole (sql_script_free), so it is unpacked into blocks of its own, handed
 * out in order and freed together.  The first block is sized from the
 * packed length (a tree unpacks to 10 to 20 times its wire size), later
 * ones double, so a tree wastes little however large.
 */
typedef struct arena_block
{
	struct arena_block *next;
	size_t              used;
	size_t              cap;
	max_align_t         data[]; /* cap bytes */
} arena_block;

struct parser_arena
{
	arena_block *head;     /* the block handed out from, newest first */
	size_t       next_cap; /* the size of the next block */
};

#define ARENA_ALIGN          ((size_t) _Alignof(max_align_t))
#define ARENA_BYTES_PER_WIRE 16
#define ARENA_MIN_BLOCK      ((size_t) 1024)
#define ARENA_MAX_BLOCK      ((size_t) 1 << 20)

static void *
arena_alloc(void *data, size_t size)
{
	parser_arena *a = data;
	arena_block  *b = a->head;

	size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (b == NULL || b->cap - b->used < size)
	{
		size_t cap = size > a->next_cap ? size : a->next_cap;

		b = xmalloc(sizeof(arena_block) + cap);
		b->next = a->head;
		b->used = 0;
		b->cap = cap;
		a->head = b;
		if (a->next_cap < ARENA_MAX_BLOCK)
			a->next_cap *= 2;
	}
	b->used += size;
	return (unsigned char *) b->data + b->used - size;
}

/* protobuf-c frees only on a failed unpack; the arena goes whole then */
static void
arena_free(void *data, void *pointer)
{
	(void) data;
	(void) pointer;
}

static parser_arena *
arena_new(size_t wire_len)
{
	parser_arena *a = xmalloc(sizeof(parser_arena));

	a->head = NULL;
	a->next_cap = wire_len * ARENA_BYTES_PER_WIRE;
	if (a->next_cap < ARENA_MIN_BLOCK)
		a->next_cap = ARENA_MIN_BLOCK;
	return a;
}

/* See parser_thread.h. */
void
parser_arena_free(parser_arena *arena)
{
	if (arena == NULL)
		return;
	while (arena->head != NULL)
	{
		arena_block *b = arena->head;

		arena->head = b->next;
		free(b);
	}
	free(arena);
}

/* The work and the results of one parse on the parser thread. */
typedef struct parse_job
{
	const char           *text;
	PgQuery__ParseResult *tree;        /* out: the tree, if all went well */
	parser_arena         *arena;       /* out: and its memory */
	char                 *error;       /* out: the parser's message */
	int                   cursorpos;   /* out: and its position */
	int                   too_deep;    /* out: first statement too deep, or -1 */
	int                   deep_offset; /* out: where that statement starts */
} parse_job;

static void
parse_on_thread(void *arg)
{
	parse_job                 *job = arg;
	PgQueryProtobufParseResult r = pg_query_parse_protobuf(job->text);

	if (r.error != NULL)
	{
		job->error = xstrdup(r.error->message);
		job->cursorpos = r.error->cursorpos;
	}
	else
	{
		const uint8_t *buf = (const uint8_t *) r.parse_tree.data;
		size_t         len = r.parse_tree.len;

		job->too_deep = first_too_deep(buf, len, SQL_PARSE_MAX_DEPTH);
		if (job->too_deep >= 0)
			job->deep_offset = raw_stmt_location(buf, len, job->too_deep);
		else if (job->too_deep == -1)
		{
			ProtobufCAllocator allocator = {arena_alloc, arena_free, arena_new(len)};

			job->arena = allocator.allocator_data;
			job->tree = pg_query__parse_result__unpack(&allocator, len, buf);
			if (job->tree == NULL)
			{
				parser_arena_free(job->arena);
				job->arena = NULL;
			}
		}
	}
	/* libpg_query frees this thread's memory context when the thread ends */
	pg_query_free_protobuf_parse_result(r);
}

typedef struct thread_call
{
	void (*fn)(void *arg);
	void  *arg;
	size_t stack_bytes;
} thread_call;

static void *
thread_main(void *arg)
{
	thread_call *call = arg;

	thread_stack_bytes = call->stack_bytes;
	call->fn(call->arg);
	return NULL;
}

/* thread_main for parser_thread_spawn(), which owns its thread_call */
static void *
spawned_main(void *arg)
{
	thread_main(arg);
	free(arg);
	return NULL;
}

/*
 * A parser room kept for one thread (sql_parser_room_begin): a parser
 * thread that runs that thread's calls one at a time, started once instead
 * of once per call.  fn is the call waiting or running (NULL: none).
 */
struct sql_parser_room
{
	pthread_mutex_t lock;
	pthread_cond_t  changed;
	pthread_t       thread;
	void (*fn)(void *arg);
	void *arg;
	bool  started; /* thread is running */
	bool  done;
	bool  stop;
};

/* The room of the thread this runs on, or NULL (one per thread, not shared). */
static _Thread_local sql_parser_room *thread_room = NULL;

static void
room_main(void *arg)
{
	sql_parser_room *room = arg;

	pthread_mutex_lock(&room->lock);
	for (;;)
	{
		while (room->fn == NULL && !room->stop)
			pthread_cond_wait(&room->changed, &room->lock);
		if (room->fn == NULL)
			break;
		pthread_mutex_unlock(&room->lock);
		room->fn(room->arg);
		pthread_mutex_lock(&room->lock);
		room->fn = NULL;
		room->done = true;
		pthread_cond_broadcast(&room->changed);
	}
	pthread_mutex_unlock(&room->lock);
}

/*
 * fn(arg) on the room's thread, started at the first call (a run that
 * parses nothing starts none); returns when fn has returned.  False with
 * errno set when the thread could not start: fn has not run.
 */
static bool
room_call(sql_parser_room *room, void (*fn)(void *arg), void *arg)
{
	if (!room->started)
	{
		if (!parser_thread_spawn(&room->thread, room_main, room))
			return false;
		room->started = true;
	}
	pthread_mutex_lock(&room->lock);
	room->fn = fn;
	room->arg = arg;
	room->done = false;
	pthread_cond_broadcast(&room->changed);
	while (!room->done)
		pthread_cond_wait(&room->changed, &room->lock);
	pthread_mutex_unlock(&room->lock);
	return true;
}

void
sql_parser_room_begin(sql_parser_room **out)
{
	sql_parser_room *room = xcalloc(1, sizeof(*room));

	pthread_mutex_init(&room->lock, NULL);
	pthread_cond_init(&room->changed, NULL);
	thread_room = room;
	*out = room;
}

void
sql_parser_room_end(sql_parser_room *room)
{
	if (room == NULL)
		return;
	if (room->started)
	{
		pthread_mutex_lock(&room->lock);
		room->stop = true;
		pthread_cond_broadcast(&room->changed);
		pthread_mutex_unlock(&room->lock);
		pthread_join(room->thread, NULL);
	}
	if (thread_room == room)
		thread_room = NULL;
	pthread_cond_destroy(&room->changed);
	pthread_mutex_destroy(&room->lock);
	free(room);
}

/*
 * Run fn(arg) on a new thread with a stack of stack_bytes, every signal
 * blocked (they stay with the main thread's handlers), and wait for it;
 * in place when this is already such a thread with room to spare.  False
 * with errno set if the thread could not be started.
 */
static bool
call_with_stack(size_t stack_bytes, void (*fn)(void *arg), void *arg)
{
	thread_call    call = {fn, arg, stack_bytes};
	pthread_attr_t attr;
	pthread_t      thread;
	sigset_t       all;
	sigset_t       old;
	int            rc;

	if (thread_stack_bytes >= stack_bytes + PARSER_STACK_NESTED_MARGIN)
	{
		fn(arg);
		return true;
	}
	if (thread_room != NULL && stack_bytes + PARSER_STACK_NESTED_MARGIN <= PARSER_STACK_ROOM &&
		room_call(thread_room, fn, arg))
		return true;
	rc = pthread_attr_init(&attr);
	if (rc == 0)
	{
		rc = pthread_attr_setstacksize(&attr, stack_bytes);
		if (rc == 0)
		{
			/* the new thread inherits the mask */
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			rc = pthread_create(&thread, &attr, thread_main, &call);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
		pthread_attr_destroy(&attr);
	}
	if (rc != 0)
	{
		errno = rc;
		return false;
	}
	pthread_join(thread, NULL);
	return true;
}

/* See parser_thread.h. */
bool
parser_thread_spawn(pthread_t *thread, void (*fn)(void *arg), void *arg)
{
	thread_call   *call = xmalloc(sizeof(thread_call));
	pthread_attr_t attr;
	sigset_t       all;
	sigset_t       old;
	int            rc;

	call->fn = fn;
	call->arg = arg;
	call->stack_bytes = PARSER_STACK_ROOM;
	rc = pthread_attr_init(&attr);
	if (rc == 0)
	{
		rc = pthread_attr_setstacksize(&attr, PARSER_STACK_ROOM);
		if (rc == 0)
		{
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			rc = pthread_create(thread, &attr, spawned_main, call);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
		pthread_attr_destroy(&attr);
	}
	if (rc != 0)
	{
		free(call);
		errno = rc;
		return false;
	}
	return true;
}

bool
sql_call_on_parser_stack(void (*fn)(void *arg), void *arg)
{
	return call_with_stack(PARSER_STACK_BASE, fn, arg);
}

bool
sql_call_with_parser_room(void (*fn)(void *arg), void *arg)
{
	return call_with_stack(PARSER_STACK_ROOM, fn, arg);
}

/* See parser_thread.h. */
PgQuery__ParseResult *
parser_thread_parse_small(const char *text, size_t text_len, parser_arena **arena)
{
	parse_job job = {text, NULL, NULL, NULL, 0, -1, 0};

	/* no statement has more tokens than the text has bytes */
	if (text_len > SQL_PARSE_SMALL_BYTES ||
		!call_with_stack(PARSER_STACK_BASE + text_len * PARSER_STACK_PER_TOKEN, parse_on_thread, &job))
		return NULL;
	free(job.error);
	*arena = job.arena;
	return job.tree;
}

#define STR(x)  #x
#define XSTR(x) STR(x)

static const char too_deep_message[] = "statement is nested too deeply: its parse tree is deeper than " XSTR(
	SQL_PARSE_MAX_DEPTH) " levels; split the expression or the statement";

/*
 * Run the parser over text on a thread sized for scan's longest statement.
 * Returns the tree, or NULL with err filled (a syntax error, a statement
 * too long or too deep, a thread that could not start).
 */
PgQuery__ParseResult *
parser_thread_parse(const char *text, int bom_len, const sql_token_list *scan, sql_parse_error *err,
					parser_arena **arena)
{
	parse_job job = {text, NULL, NULL, NULL, 0, -1, 0};
	int       longest_at;
	size_t    longest = sqllex_longest_statement(scan, &longest_at);
	int       chain_at;
	size_t    chain = sqllex_longest_operator_chain(scan, &chain_at);

	if (longest > SQL_PARSE_MAX_TOKENS)
	{
		char *msg = xasprintf("statement is too long to parse safely: %zu tokens (the limit is %d); split it",
							  longest, SQL_PARSE_MAX_TOKENS);

		sqlpos_set_limit_error(text, bom_len, msg, longest_at, err);
		free(msg);
		return NULL;
	}
	if (chain * 2 > SQL_PARSE_MAX_DEPTH)
	{
		sqlpos_set_limit_error(text, bom_len, too_deep_message, chain_at, err);
		return NULL;
	}
	if (!call_with_stack(PARSER_STACK_BASE + longest * PARSER_STACK_PER_TOKEN, parse_on_thread, &job))
	{
		char *msg = xasprintf("could not start the parser's thread: %s", strerror(errno));

		sqlpos_set_error(text, bom_len, msg, -1, err);
		free(msg);
		return NULL;
	}
	if (job.error != NULL)
	{
		sqlpos_set_error(text, bom_len, job.error, sqlpos_cursor_to_offset(text, job.cursorpos), err);
		free(job.error);
		return NULL;
	}
	if (job.too_deep >= 0)
	{
		sqlpos_set_limit_error(text, bom_len, too_deep_message,
							   sqllex_first_token_from(scan, job.deep_offset), err);
		return NULL;
	}
	if (job.tree == NULL)
		sqlpos_set_error(text, bom_len, "could not decode the parser's output", -1, err);
	*arena = job.arena;
	return job.tree;
}
