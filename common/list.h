/* Intrusive doubly linked list, as in wlroots' wl_list: the links live in
 * the elements, so adding and removing never allocates. An empty list is a
 * head linked to itself. */
#pragma once

#include <stddef.h>

struct list {
	struct list *prev;
	struct list *next;
};

static inline void list_init(struct list *l)
{
	l->prev = l;
	l->next = l;
}

static inline int list_empty(const struct list *l)
{
	return l->next == l;
}

/* Inserts elm after where; list_insert(head->prev, e) appends. */
static inline void list_insert(struct list *where, struct list *elm)
{
	elm->prev = where;
	elm->next = where->next;
	where->next = elm;
	elm->next->prev = elm;
}

static inline void list_append(struct list *head, struct list *elm)
{
	list_insert(head->prev, elm);
}

/* Unlinks elm and leaves it as an empty list, so removing twice is safe. */
static inline void list_remove(struct list *elm)
{
	elm->prev->next = elm->next;
	elm->next->prev = elm->prev;
	list_init(elm);
}

/* The struct that holds the member ptr points to. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)

/* Safe against removal of the current element. */
#define list_for_each_safe(pos, tmp, head)                                                         \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                           \
	     (pos) = (tmp), (tmp) = (pos)->next)
