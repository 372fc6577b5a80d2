/* bad-api.h - the header of the negative golden tests (bad/). */
#ifndef BAD_API_H
#define BAD_API_H

typedef int bad_int;
typedef unsigned bad_uint;
typedef unsigned bad_info;
typedef struct _bad_obj *bad_obj;

#define BAD_OK 0
#define BAD_ERR -1
#define BAD_INVALID -2
#define BAD_INFO_OBJ 1

bad_int badGet(bad_obj obj, bad_info name, bad_uint size, void *value,
	       bad_uint *size_ret);
bad_int badList(bad_uint n, bad_obj *objs, bad_uint *count);
bad_int badSet(bad_obj obj, const char *name, bad_uint value);
void badNotify(void (*cb)(void *), void *data);

#endif
