/*
 * Weft's Lua line profiler (`npm run luaprof -w @weft/bench`, src/luaprof.ts).
 *
 * Redis counts no Lua: callgrind sees the interpreter (`luaV_execute`), not
 * which line of a function it runs. This host replays a captured command
 * stream against a real Redis and runs every FCALL of it here instead, in
 * Redis's own Lua 5.1 (`deps/lua` of a built Redis source tree, with its
 * cmsgpack), each `redis.call` sent to that Redis through its hiredis. For
 * the functions named on the command line a count hook fires before every
 * Lua VM instruction and charges it to the line it runs: VM operations per
 * line, the `redis.call`s made from each line, and the bytes the Lua
 * allocator hands out while the line runs (tables, strings, a cmsgpack
 * call's results, a `redis.call`'s reply as Lua values): the garbage whose
 * collection a call pays for later (Lua's incremental collector works in
 * proportion to what is allocated).
 *
 * Usage: host <library.lua> <capture.bin> <port> <functions|all> <out.txt>
 *   library.lua  the library's code (FUNCTION LIST WITHCODE), first line `#!lua ...`
 *   capture.bin  records of [u32 argc] then argc × [u32 length, bytes] (little endian)
 *   functions    script names, comma separated (`complete,claim`): a function
 *                `<library>_<name>` is profiled when its name ends in `_<name>`
 *   out.txt      one line per source line reached: `line ops calls bytes`
 * It prints `<calls profiled> <ops>` on stdout, errors on stderr.
 *
 * A replayed FCALL differs from Redis's in what the profile does not measure:
 * the replies reach the host through RESP2 as Redis's own conversion gives
 * them to Lua (integers as numbers, nil as false, status and error as tables),
 * and number arguments are sent as Redis formats them (`%.17g`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"
#include "hiredis.h"

LUALIB_API int(luaopen_cmsgpack)(lua_State *L);

#define MAX_LINES 50000
static redisContext *rc;
static long long ops[MAX_LINES], calls[MAX_LINES], bytes[MAX_LINES];
static long long totalOps = 0;
static int profiling = 0;
/* the line whose VM instruction runs now, in a profiled call; 0 outside one */
static int line = 0;

/* Lua's allocator (luaL_newstate's), counting what a profiled line is handed: a new block
 * in full, a block grown by its growth */
static void *countingAlloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (line > 0 && nsize > osize) bytes[line] += (long long)(nsize - osize);
  return realloc(ptr, nsize);
}
static int panic(lua_State *L) {
  fprintf(stderr, "Lua panic: %s\n", lua_tostring(L, -1));
  return 0;
}

static void countOp(lua_State *L, lua_Debug *unused) {
  lua_Debug a;
  (void)unused;
  if (!lua_getstack(L, 0, &a)) return;
  lua_getinfo(L, "l", &a);
  if (a.currentline > 0 && a.currentline < MAX_LINES) {
    ops[a.currentline]++;
    line = a.currentline;
  }
  totalOps++;
}

static void pushReply(lua_State *L, const redisReply *r) {
  switch (r->type) {
  case REDIS_REPLY_INTEGER: lua_pushnumber(L, (lua_Number)r->integer); break;
  case REDIS_REPLY_STRING: lua_pushlstring(L, r->str, r->len); break;
  case REDIS_REPLY_STATUS:
  case REDIS_REPLY_ERROR:
    lua_newtable(L);
    lua_pushstring(L, r->type == REDIS_REPLY_STATUS ? "ok" : "err");
    lua_pushlstring(L, r->str, r->len);
    lua_settable(L, -3);
    break;
  case REDIS_REPLY_ARRAY:
    lua_newtable(L);
    for (size_t i = 0; i < r->elements; i++) {
      pushReply(L, r->element[i]);
      lua_rawseti(L, -2, (int)i + 1);
    }
    break;
  default: lua_pushboolean(L, 0); /* nil */
  }
}

/* redis.call (raise = 1) and redis.pcall (raise = 0) */
static int redisCall(lua_State *L, int raise) {
  int n = lua_gettop(L);
  if (n == 0) return luaL_error(L, "Please specify at least one argument for this redis lib call");
  if (profiling) {
    lua_Debug a;
    if (lua_getstack(L, 1, &a)) {
      lua_getinfo(L, "l", &a);
      if (a.currentline > 0 && a.currentline < MAX_LINES) calls[a.currentline]++;
    }
  }
  const char **argv = malloc(sizeof(char *) * n);
  size_t *lens = malloc(sizeof(size_t) * n);
  char(*numbers)[32] = malloc(32 * n);
  for (int i = 0; i < n; i++) {
    int t = lua_type(L, i + 1);
    if (t == LUA_TNUMBER) {
      lens[i] = (size_t)snprintf(numbers[i], 32, "%.17g", (double)lua_tonumber(L, i + 1));
      argv[i] = numbers[i];
    } else if (t == LUA_TSTRING) {
      argv[i] = lua_tolstring(L, i + 1, &lens[i]);
    } else {
      free(argv), free(lens), free(numbers);
      return luaL_error(L, "Lua redis lib command arguments must be strings or integers");
    }
  }
  redisReply *r = redisCommandArgv(rc, n, argv, lens);
  free(argv), free(lens), free(numbers);
  if (!r) {
    fprintf(stderr, "redis: %s\n", rc->errstr);
    exit(2);
  }
  pushReply(L, r);
  int failed = r->type == REDIS_REPLY_ERROR;
  freeReplyObject(r);
  if (failed && raise) return lua_error(L);
  return 1;
}
static int call(lua_State *L) { return redisCall(L, 1); }
static int pcall(lua_State *L) { return redisCall(L, 0); }
static int ignore(lua_State *L) { (void)L; return 0; }
static int registerFunction(lua_State *L) {
  lua_getglobal(L, "FUNCTIONS");
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_settable(L, -3);
  return 0;
}

static int readU32(FILE *f, unsigned *v) { return fread(v, 4, 1, f) == 1; }

/* whether function `name` ends in `_<s>` for one s of the comma list `wanted` */
static int wanted(const char *name, const char *list) {
  if (strcmp(list, "all") == 0) return 1;
  const char *script = strrchr(name, '_');
  if (!script) return 0;
  size_t len = strlen(script + 1);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == len && strncmp(p, script + 1, n) == 0) return 1;
    if (!end) break;
    p = end + 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: host <library.lua> <capture.bin> <port> <functions|all> <out.txt>\n");
    return 1;
  }
  rc = redisConnect("127.0.0.1", atoi(argv[3]));
  if (!rc || rc->err) {
    fprintf(stderr, "cannot connect to 127.0.0.1:%s\n", argv[3]);
    return 1;
  }
  lua_State *L = lua_newstate(countingAlloc, NULL);
  lua_atpanic(L, panic);
  luaL_openlibs(L);
  lua_pushcfunction(L, luaopen_cmsgpack);
  lua_pushstring(L, "cmsgpack");
  lua_call(L, 1, 0);
  lua_newtable(L);
  lua_setglobal(L, "FUNCTIONS");
  lua_newtable(L);
  lua_pushcfunction(L, call);
  lua_setfield(L, -2, "call");
  lua_pushcfunction(L, pcall);
  lua_setfield(L, -2, "pcall");
  lua_pushcfunction(L, ignore);
  lua_setfield(L, -2, "log");
  lua_pushcfunction(L, registerFunction);
  lua_setfield(L, -2, "register_function");
  lua_setglobal(L, "redis");
  /* (luaL_loadfile skips a first line starting with '#': the `#!lua name=...` header) */
  if (luaL_loadfile(L, argv[1]) || lua_pcall(L, 0, 0, 0)) {
    fprintf(stderr, "library: %s\n", lua_tostring(L, -1));
    return 1;
  }
  FILE *in = fopen(argv[2], "rb");
  if (!in) {
    fprintf(stderr, "cannot read %s\n", argv[2]);
    return 1;
  }
  long long profiled = 0, errors = 0;
  unsigned n;
  while (readU32(in, &n)) {
    char **a = malloc(sizeof(char *) * n);
    size_t *lens = malloc(sizeof(size_t) * n);
    for (unsigned i = 0; i < n; i++) {
      unsigned len = 0;
      if (!readU32(in, &len)) return 3;
      a[i] = malloc(len + 1);
      if (fread(a[i], 1, len, in) != len) return 3;
      a[i][len] = 0;
      lens[i] = len;
    }
    if (n >= 3 && strcasecmp(a[0], "fcall") == 0) {
      int keys = atoi(a[2]);
      lua_getglobal(L, "FUNCTIONS");
      lua_getfield(L, -1, a[1]);
      lua_remove(L, -2);
      if (lua_isnil(L, -1)) {
        fprintf(stderr, "no function %s in the library\n", a[1]);
        return 1;
      }
      lua_newtable(L);
      for (int i = 0; i < keys; i++) {
        lua_pushlstring(L, a[3 + i], lens[3 + i]);
        lua_rawseti(L, -2, i + 1);
      }
      lua_newtable(L);
      for (unsigned i = 3 + keys; i < n; i++) {
        lua_pushlstring(L, a[i], lens[i]);
        lua_rawseti(L, -2, (int)(i - 2 - keys));
      }
      profiling = wanted(a[1], argv[4]);
      if (profiling) {
        lua_sethook(L, countOp, LUA_MASKCOUNT, 1);
        profiled++;
      }
      if (lua_pcall(L, 2, 1, 0) && ++errors <= 5)
        fprintf(stderr, "%s: %s\n", a[1], lua_isstring(L, -1) ? lua_tostring(L, -1) : "(an error reply)");
      lua_sethook(L, NULL, 0, 0);
      profiling = 0;
      line = 0;
      lua_pop(L, 1);
    } else {
      redisReply *r = redisCommandArgv(rc, (int)n, (const char **)a, lens);
      if (r) freeReplyObject(r);
    }
    for (unsigned i = 0; i < n; i++) free(a[i]);
    free(a), free(lens);
  }
  FILE *out = fopen(argv[5], "w");
  for (int i = 0; i < MAX_LINES; i++)
    if (ops[i] || calls[i] || bytes[i]) fprintf(out, "%d %lld %lld %lld\n", i, ops[i], calls[i], bytes[i]);
  fclose(out);
  printf("%lld %lld\n", profiled, totalOps);
  if (errors) fprintf(stderr, "%lld replayed calls failed\n", errors);
  return errors ? 4 : 0;
}
