//! The rpmdb as rpm 4.18's sqlite backend (`lib/backend/sqlite.c`) lays
//! it out: a `Packages` table of header blobs keyed by an AUTOINCREMENT
//! `hnum`, and one `(key, hnum, idx)` table per index, with the same
//! `CREATE` statements, so that `sqlite_master` matches `rpm --initdb`.
//!
//! The database is worked on in memory (sqlite's serialize/deserialize):
//! reading and writing the file is the caller's, which keeps every file
//! access behind a directory handle (see [`super::RpmDbDir`]), and a
//! half-done change never reaches the disk. Each add or remove is one
//! sqlite transaction.

use std::io::Read;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, MAIN_DB, OptionalExtension, ToSql, params};

use super::header::InstalledHeader;
use super::index::{ByteOrder, Index, IndexRow, index_rows};
use super::install::{InstallInfo, PackageHeaders};
use super::{InstalledPackage, RpmDbError};

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// Offsets of the file format's read and write versions: 1 for a
/// rollback journal, 2 for WAL.
const FORMAT_VERSIONS: std::ops::Range<usize> = 18..20;

fn sql(action: &'static str) -> impl FnOnce(rusqlite::Error) -> RpmDbError {
    move |source| RpmDbError::Sqlite { action, source }
}

/// A key bound as rpm binds it: TEXT for string tags (bytes as they are,
/// UTF-8 or not), BLOB for the others.
struct Key<'a> {
    bytes: &'a [u8],
    text: bool,
}

impl ToSql for Key<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(if self.text { ValueRef::Text(self.bytes) } else { ValueRef::Blob(self.bytes) }))
    }
}

fn create_table_sql(index: Index) -> String {
    let key_type = if index.text_keys() { "TEXT" } else { "BLOB" };
    format!(
        "CREATE TABLE IF NOT EXISTS '{table}' (key '{key_type}' NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))",
        table = index.table()
    )
}

fn create_index_sql(index: Index) -> Vec<String> {
    let table = index.table();
    let mut out = Vec::new();
    if index.text_keys() {
        out.push(format!("CREATE INDEX IF NOT EXISTS '{table}_key_idx' ON '{table}'(key ASC)"));
    }
    if index.is_array() {
        out.push(format!("CREATE INDEX IF NOT EXISTS '{table}_hnum_idx' ON '{table}'(hnum ASC)"));
    }
    out
}

const CREATE_PACKAGES: &str =
    "CREATE TABLE IF NOT EXISTS 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)";

/// A connection set up as rpm's (`sqlite_init`): foreign keys are declared
/// but not enforced (rusqlite's bundled sqlite would enforce them), and
/// `LIKE` is case-sensitive.
fn open_connection() -> Result<Connection, RpmDbError> {
    let conn = Connection::open_in_memory().map_err(sql("opening a database"))?;
    conn.execute_batch("PRAGMA foreign_keys = OFF; PRAGMA secure_delete = OFF; PRAGMA case_sensitive_like = ON")
        .map_err(sql("opening a database"))?;
    Ok(conn)
}

/// An rpmdb, in memory.
pub struct RpmDb {
    conn: Connection,
    key_order: ByteOrder,
}

impl std::fmt::Debug for RpmDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpmDb").field("key_order", &self.key_order).finish_non_exhaustive()
    }
}

impl RpmDb {
    /// An empty database, as `rpm --initdb` creates it.
    pub fn new() -> Result<RpmDb, RpmDbError> {
        let conn = open_connection()?;
        // rpm leaves sqlite's defaults; pin the one a build could change.
        conn.execute_batch("PRAGMA page_size = 4096").map_err(sql("creating a database"))?;
        let mut db = RpmDb { conn, key_order: ByteOrder::native() };
        db.ensure_schema()?;
        Ok(db)
    }

    /// A database from the bytes of an `rpmdb.sqlite`. A database in WAL
    /// mode must have its WAL checkpointed (rpm does so when it closes it):
    /// the caller checks that `rpmdb.sqlite-wal` is empty or absent.
    pub fn from_bytes(bytes: &[u8]) -> Result<RpmDb, RpmDbError> {
        if bytes.len() < 100 || &bytes[..16] != SQLITE_MAGIC {
            return Err(RpmDbError::NotSqlite);
        }
        // A checkpointed WAL database is a rollback one with these bytes
        // set to 2; sqlite cannot deserialize it otherwise. rpm turns WAL
        // back on the next time it writes.
        let mut intro = [0u8; 100];
        intro.copy_from_slice(&bytes[..100]);
        for b in &mut intro[FORMAT_VERSIONS] {
            if *b == 2 {
                *b = 1;
            }
        }
        let mut conn = open_connection()?;
        conn.deserialize_read_exact(MAIN_DB, (&intro[..]).chain(&bytes[100..]), bytes.len(), false)
            .map_err(sql("opening the database"))?;
        let has_packages: bool = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'Packages'", [], |r| {
                r.get::<_, i64>(0).map(|n| n > 0)
            })
            .map_err(sql("reading the schema"))?;
        if !has_packages {
            return Err(RpmDbError::NoPackagesTable);
        }
        let mut db = RpmDb { conn, key_order: ByteOrder::native() };
        db.ensure_schema()?;
        Ok(db)
    }

    /// The database file's bytes, in rollback-journal mode (see the module docs of [`super`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, RpmDbError> {
        let data = self.conn.serialize(MAIN_DB).map_err(sql("writing the database"))?;
        Ok(data.to_vec())
    }

    /// The byte order of integer index keys (`Installtid`): that of the
    /// machine that will use the database. Native by default.
    pub fn set_key_order(&mut self, order: ByteOrder) {
        self.key_order = order;
    }

    /// Creates what is missing of rpm's schema, as rpm does when it opens
    /// a database; an index table that had to be created is filled from
    /// the headers already there.
    fn ensure_schema(&mut self) -> Result<(), RpmDbError> {
        let tx = self.conn.transaction().map_err(sql("creating the schema"))?;
        tx.execute_batch(CREATE_PACKAGES).map_err(sql("creating the schema"))?;
        let mut created = Vec::new();
        for index in Index::ALL {
            let exists: bool = tx
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [index.table()],
                    |r| r.get::<_, i64>(0).map(|n| n > 0),
                )
                .map_err(sql("reading the schema"))?;
            if !exists {
                tx.execute_batch(&create_table_sql(index)).map_err(sql("creating the schema"))?;
                created.push(index);
            }
            for statement in create_index_sql(index) {
                tx.execute_batch(&statement).map_err(sql("creating the schema"))?;
            }
        }
        if !created.is_empty() {
            let mut headers = Vec::new();
            {
                let mut stmt =
                    tx.prepare("SELECT hnum, blob FROM 'Packages' ORDER BY hnum").map_err(sql("reading packages"))?;
                let mut rows = stmt.query([]).map_err(sql("reading packages"))?;
                while let Some(row) = rows.next().map_err(sql("reading packages"))? {
                    let hnum = hnum_of(row.get(0).map_err(sql("reading packages"))?)?;
                    let blob: Vec<u8> = row.get(1).map_err(sql("reading packages"))?;
                    let header =
                        InstalledHeader::parse(blob).map_err(|source| RpmDbError::InstalledHeader { hnum, source })?;
                    headers.push((hnum, header));
                }
            }
            for (hnum, header) in &headers {
                for &index in &created {
                    insert_rows(&tx, index, &index_rows(index, header, *hnum, self.key_order))?;
                }
            }
        }
        tx.commit().map_err(sql("creating the schema"))
    }

    /// Every installed package, in `hnum` order (rpm's `-qa` order).
    pub fn packages(&self) -> Result<Vec<InstalledPackage>, RpmDbError> {
        let mut stmt =
            self.conn.prepare("SELECT hnum, blob FROM 'Packages' ORDER BY hnum").map_err(sql("reading packages"))?;
        let mut rows = stmt.query([]).map_err(sql("reading packages"))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sql("reading packages"))? {
            let hnum = hnum_of(row.get(0).map_err(sql("reading packages"))?)?;
            let blob: Vec<u8> = row.get(1).map_err(sql("reading packages"))?;
            out.push(InstalledPackage::from_blob(hnum, blob)?);
        }
        Ok(out)
    }

    /// The package stored as `hnum`.
    pub fn package(&self, hnum: u32) -> Result<Option<InstalledPackage>, RpmDbError> {
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT blob FROM 'Packages' WHERE hnum = ?1", [hnum], |r| r.get(0))
            .optional()
            .map_err(sql("reading a package"))?;
        blob.map(|blob| InstalledPackage::from_blob(hnum, blob)).transpose()
    }

    /// Installed packages called `name`, through the `Name` index as `rpm -q NAME` finds them.
    pub fn find(&self, name: &str) -> Result<Vec<InstalledPackage>, RpmDbError> {
        let mut out = Vec::new();
        for hnum in self.lookup(Index::Name, name.as_bytes())? {
            if let Some(package) = self.package(hnum)? {
                out.push(package);
            }
        }
        Ok(out)
    }

    /// The `hnum`s an index lists under `key`, without duplicates.
    pub fn lookup(&self, index: Index, key: &[u8]) -> Result<Vec<u32>, RpmDbError> {
        let query = format!("SELECT DISTINCT hnum FROM '{}' WHERE key = ?1 ORDER BY hnum", index.table());
        let mut stmt = self.conn.prepare(&query).map_err(sql("reading an index"))?;
        let rows = stmt
            .query_map([Key { bytes: key, text: index.text_keys() }], |r| r.get::<_, i64>(0))
            .map_err(sql("reading an index"))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(hnum_of(row.map_err(sql("reading an index"))?)?);
        }
        Ok(out)
    }

    /// Every row of an index table, in the order they were added.
    pub fn index_rows(&self, index: Index) -> Result<Vec<IndexRow>, RpmDbError> {
        let query = format!("SELECT key, hnum, idx FROM '{}' ORDER BY rowid", index.table());
        let mut stmt = self.conn.prepare(&query).map_err(sql("reading an index"))?;
        let mut rows = stmt.query([]).map_err(sql("reading an index"))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sql("reading an index"))? {
            let key = match row.get_ref(0).map_err(sql("reading an index"))? {
                ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
                ValueRef::Integer(n) => n.to_string().into_bytes(),
                ValueRef::Real(_) | ValueRef::Null => Vec::new(),
            };
            let hnum = hnum_of(row.get(1).map_err(sql("reading an index"))?)?;
            let idx: i64 = row.get(2).map_err(sql("reading an index"))?;
            out.push(IndexRow { key, hnum, idx: u32::try_from(idx).unwrap_or(u32::MAX) });
        }
        Ok(out)
    }

    /// Records a package as installed, as `rpm -i` does: its installed
    /// header (see [`PackageHeaders::installed_header`]) and its index
    /// rows. Another package of the same name (or NEVRA) is left alone,
    /// as in rpm's database layer; the caller decides what replaces what.
    pub fn add(&mut self, package: &PackageHeaders, install: &InstallInfo) -> Result<InstalledPackage, RpmDbError> {
        let header = package.installed_header(install)?;
        self.add_header(header)
    }

    /// Records an installed header as it is (for example one taken from
    /// another rpmdb), with its index rows.
    pub fn add_header(&mut self, header: InstalledHeader) -> Result<InstalledPackage, RpmDbError> {
        let tx = self.conn.transaction().map_err(sql("adding a package"))?;
        tx.execute("INSERT OR REPLACE INTO 'Packages' VALUES(?1, ?2)", params![None::<i64>, header.as_bytes()])
            .map_err(sql("adding a package"))?;
        let hnum = hnum_of(tx.last_insert_rowid())?;
        for index in Index::ALL {
            insert_rows(&tx, index, &index_rows(index, &header, hnum, self.key_order))?;
        }
        let package = InstalledPackage::from_header(hnum, header)?;
        tx.commit().map_err(sql("adding a package"))?;
        Ok(package)
    }

    /// Removes the package stored as `hnum` and its index rows; `false`
    /// when there is none.
    pub fn remove(&mut self, hnum: u32) -> Result<bool, RpmDbError> {
        let tx = self.conn.transaction().map_err(sql("removing a package"))?;
        for index in Index::ALL {
            tx.execute(&format!("DELETE FROM '{}' WHERE hnum=?1", index.table()), [hnum])
                .map_err(sql("removing a package"))?;
        }
        let removed =
            tx.execute("DELETE FROM 'Packages' WHERE hnum=?1", [hnum]).map_err(sql("removing a package"))? > 0;
        tx.commit().map_err(sql("removing a package"))?;
        Ok(removed)
    }
}

fn insert_rows(conn: &Connection, index: Index, rows: &[IndexRow]) -> Result<(), RpmDbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut stmt = conn
        .prepare(&format!("INSERT INTO '{}' VALUES(?1, ?2, ?3)", index.table()))
        .map_err(sql("adding to an index"))?;
    for row in rows {
        stmt.execute(params![Key { bytes: &row.key, text: index.text_keys() }, row.hnum, row.idx])
            .map_err(sql("adding to an index"))?;
    }
    Ok(())
}

/// rpm keeps header numbers in 32 bits.
fn hnum_of(rowid: i64) -> Result<u32, RpmDbError> {
    u32::try_from(rowid).ok().filter(|&n| n > 0).ok_or(RpmDbError::HeaderNumber { rowid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_database_round_trips() {
        let db = RpmDb::new().expect("new");
        let bytes = db.to_bytes().expect("bytes");
        assert_eq!(&bytes[..16], SQLITE_MAGIC);
        assert_eq!(&bytes[FORMAT_VERSIONS], &[1, 1]);
        let again = RpmDb::from_bytes(&bytes).expect("reopen");
        assert!(again.packages().expect("list").is_empty());
        assert!(matches!(RpmDb::from_bytes(b"not a database"), Err(RpmDbError::NotSqlite)));
    }

    #[test]
    fn missing_index_tables_are_created() {
        let db = RpmDb::new().expect("new");
        db.conn.execute_batch("DROP TABLE 'Enhancename'").expect("drop");
        let bytes = db.to_bytes().expect("bytes");
        let again = RpmDb::from_bytes(&bytes).expect("reopen");
        assert!(again.index_rows(Index::Enhancename).expect("rows").is_empty());
    }
}
