/* Intrusive doubly linked lists: an object in a list has `prev` and `next` members, the list is
 * a pointer to its first object. */
#ifndef TANDEM_DLIST_H
#define TANDEM_DLIST_H

/* Puts `x` at the head of the list. */
#define DLIST_LINK(head, x)                                                                        \
	do {                                                                                       \
		(x)->prev = NULL;                                                                  \
		(x)->next = (head);                                                                \
		if (head)                                                                          \
			(head)->prev = (x);                                                        \
		(head) = (x);                                                                      \
	} while (0)

/* Takes `x` out of the list (nothing if it is in none). */
#define DLIST_UNLINK(head, x)                                                                      \
	do {                                                                                       \
		if ((x)->prev)                                                                     \
			(x)->prev->next = (x)->next;                                               \
		else if ((head) == (x))                                                            \
			(head) = (x)->next;                                                        \
		if ((x)->next)                                                                     \
			(x)->next->prev = (x)->prev;                                               \
		(x)->prev = (x)->next = NULL;                                                      \
	} while (0)

#endif
