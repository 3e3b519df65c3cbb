"""The password hasher: Argon2id with OWASP's parameters (Password Storage Cheat Sheet: 19 MiB of
memory, 2 passes, 1 lane).

Django's own Argon2 hasher takes 100 MiB and 8 lanes a hash: on a web server, 30 people signing
in at once would ask for 3 GiB, and each hash would take every core. One lane keeps a sign-in on
one core, and argon2-cffi releases the GIL while it hashes, so a threaded worker goes on serving
other pages meanwhile. The measurements behind the choice are in docs/identity.md ("How passwords
are stored").

The algorithm's name stays Django's ("argon2"): the stored hashes carry their own parameters, and
Django re-hashes a password at its next sign-in whenever they differ from these (or when it was
stored by another hasher, PBKDF2 before December 2026).
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    memory_cost = 19 * 1024  # KiB
    time_cost = 2
    parallelism = 1
