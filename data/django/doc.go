// Package django is a data.Source over an existing Django site's sessions:
// the django_session table of the database backend (db, and cached_db with
// the caveats below), on PostgreSQL (pgx) or on the site's SQLite file
// (modernc). It lets sessionmon's dashboard and `sessions` commands watch
// and control a Django site without the site running any code of ours.
//
// Reading needs no secret: session_data is signed, not encrypted
// (signing.go). With the site's SECRET_KEY (and SECRET_KEY_FALLBACKS) every
// row is also verified, and a row whose signature fails is marked tampered;
// extending a session needs the secret, because Django rewrites expire_date
// from the signed data on the holder's next request.
//
// Nothing of Django's is changed except what an operator asks for: a
// force-out deletes the row (as Django's own logout does), an extend
// re-signs the row as Django would. The audit of operator actions goes to a
// table of ours (sessionmon_django_audit, created by Migrate) or, where the
// operator may not create tables, to a local SQLite file.
package django
