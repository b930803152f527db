/* liborm — symbol visibility. The library is built with hidden visibility; ORM_API marks
 * what is exported. */
#ifndef ORM_EXPORT_H
#define ORM_EXPORT_H

#if defined(ORM_STATIC_DEFINE)
#define ORM_API
#elif defined(__GNUC__) && __GNUC__ >= 4
#define ORM_API __attribute__((visibility("default")))
#else
#define ORM_API
#endif

#endif
