// Package djangoe2e runs sessionmon's Django source against a real Django
// site (site/, Debian's python3-django 3.2 on /usr/bin/python3), on SQLite
// and on PostgreSQL (a database of its own per test), served by Django's
// runserver on a free loopback port in the background.
//
// The tests never skip in CI: without Django (or PostgreSQL) they fail when
// SESSIONMON_REQUIRE_DJANGO=1 or SESSIONMON_REQUIRE_PG=1.
package djangoe2e
