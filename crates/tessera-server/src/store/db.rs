//! The store's own thin database layer, under [`super::sql::SqlStore`].
//!
//! Every storage operation is written once, against [`Conn`]: statements are built with
//! [`query`] and `$N` placeholders, rows come back as [`Row`]s of three cell kinds (NULL,
//! integer, text). [`Db`] runs them on one of two engines:
//!
//! - **SQLite** ([`super::sqlite`]): rusqlite on the calling thread for reads (WAL readers
//!   never wait for the writer, so a read is a few microseconds of plain function calls)
//!   and one writer thread that commits concurrent write transactions together (group
//!   commit: one fsync for the batch, each operation in its own savepoint).
//! - **PostgreSQL** ([`super::postgres`]): sqlx's pool, one transaction per operation.
//!
//! A transaction is a closure that receives the connection and answers [`Finish::Commit`]
//! or [`Finish::Rollback`]; an error rolls it back too. On SQLite the closure runs on the
//! writer thread, so it must only await the connection (its futures are always ready).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use tessera_core::store::{StoreError, StoreResult};

/// A bound parameter. Typed even when NULL, because PostgreSQL checks a parameter's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}
impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        Self::Text(v.clone())
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}

/// One statement and its arguments; `$N` in the text is the N-th [`Query::bind`].
#[derive(Debug, Clone)]
pub struct Query {
    pub sql: Cow<'static, str>,
    pub args: Vec<Value>,
}

pub fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query { sql: sql.into(), args: Vec::new() }
}

impl Query {
    pub fn bind(mut self, v: impl Into<Value>) -> Self {
        self.args.push(v.into());
        self
    }
}

/// A column value as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// One result row: column names (shared by the rows of one statement) and cells.
#[derive(Debug, Clone)]
pub struct Row {
    pub(super) names: Arc<[String]>,
    pub(super) cells: Vec<Cell>,
}

impl Row {
    /// Splits off the columns from `at` on as a row of their own: the columns of a joined
    /// table, read with the same names as in a query of that table alone.
    pub fn split_off(&mut self, at: usize) -> Row {
        let at = at.min(self.cells.len());
        let names: Arc<[String]> = self.names.get(at..).unwrap_or_default().to_vec().into();
        Row { names, cells: self.cells.split_off(at) }
    }

    /// The named column, decoded; a missing column or a cell of the wrong kind is corruption.
    pub fn get<T: FromCell>(&self, col: &str) -> StoreResult<T> {
        let i = self.names.iter().position(|n| n == col).ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))?;
        self.at(i).map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
    }

    /// The i-th column (for one-column statements).
    pub fn at<T: FromCell>(&self, i: usize) -> StoreResult<T> {
        let cell = self.cells.get(i).ok_or_else(|| StoreError::Corrupt(format!("no column {i}")))?;
        T::from_cell(cell).map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
    }
}

pub trait FromCell: Sized {
    fn from_cell(c: &Cell) -> Result<Self, &'static str>;
}
impl FromCell for i64 {
    fn from_cell(c: &Cell) -> Result<Self, &'static str> {
        match c {
            Cell::Int(v) => Ok(*v),
            Cell::Null => Err("unexpected NULL"),
            Cell::Text(_) => Err("text where an integer belongs"),
        }
    }
}
impl FromCell for String {
    fn from_cell(c: &Cell) -> Result<Self, &'static str> {
        match c {
            Cell::Text(v) => Ok(v.clone()),
            Cell::Null => Err("unexpected NULL"),
            Cell::Int(_) => Err("an integer where text belongs"),
        }
    }
}
impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(c: &Cell) -> Result<Self, &'static str> {
        match c {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// How a transaction ends when its closure succeeds.
#[derive(Debug)]
pub enum Finish<T> {
    Commit(T),
    Rollback(T),
}

/// One connection inside a transaction (or a read).
#[async_trait]
pub trait Conn: Send {
    /// Runs a statement that returns no rows; the number of rows it changed.
    async fn execute(&mut self, q: Query) -> StoreResult<u64>;
    async fn fetch_optional(&mut self, q: Query) -> StoreResult<Option<Row>>;
    async fn fetch_all(&mut self, q: Query) -> StoreResult<Vec<Row>>;
    /// Runs several `;`-separated statements without arguments (migrations).
    async fn execute_script(&mut self, sql: &str) -> StoreResult<()>;
}

pub type TxFuture<'c, T> = Pin<Box<dyn Future<Output = StoreResult<Finish<T>>> + Send + 'c>>;

/// The engine a store runs on.
#[derive(Clone)]
pub enum Db {
    Sqlite(Arc<super::sqlite::Engine>),
    Postgres(Arc<super::postgres::Pools>),
}

impl Db {
    /// Runs `f` in one write transaction: all its statements commit together or none does.
    pub async fn transaction<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        // Clone: on PostgreSQL an attempt that failed without committing is tried again.
        F: for<'c> FnOnce(&'c mut dyn Conn) -> TxFuture<'c, T> + Clone + Send + 'static,
    {
        match self {
            Self::Sqlite(engine) => engine.write(f).await,
            Self::Postgres(pool) => super::postgres::transaction(pool, f).await,
        }
    }

    /// One write statement in its own transaction; the number of rows it changed.
    pub async fn execute(&self, q: Query) -> StoreResult<u64> {
        match self {
            Self::Sqlite(_) => self.transaction(move |c| Box::pin(async move { c.execute(q).await.map(Finish::Commit) })).await,
            Self::Postgres(pool) => super::postgres::execute(pool, q).await,
        }
    }

    /// One write statement with `RETURNING`, in its own transaction.
    pub async fn execute_returning(&self, q: Query) -> StoreResult<Option<Row>> {
        match self {
            Self::Sqlite(_) => {
                self.transaction(move |c| Box::pin(async move { c.fetch_optional(q).await.map(Finish::Commit) })).await
            }
            Self::Postgres(pool) => super::postgres::fetch_optional(pool, q, true).await,
        }
    }

    /// A read of at most one row; it sees every committed write.
    pub async fn fetch_optional(&self, q: Query) -> StoreResult<Option<Row>> {
        match self {
            Self::Sqlite(engine) => engine.read(|c| c.fetch_optional_now(q)),
            Self::Postgres(pool) => super::postgres::fetch_optional(pool, q, false).await,
        }
    }

    pub async fn fetch_all(&self, q: Query) -> StoreResult<Vec<Row>> {
        match self {
            Self::Sqlite(engine) => engine.read(|c| c.fetch_all_now(q)),
            Self::Postgres(pool) => super::postgres::fetch_all(pool, q).await,
        }
    }

    /// Reads at most one row and maps it.
    pub async fn optional<T>(&self, q: Query, map: fn(&Row) -> StoreResult<T>) -> StoreResult<Option<T>> {
        self.fetch_optional(q).await?.as_ref().map(map).transpose()
    }

    /// Reads every row and maps it.
    pub async fn all<T>(&self, q: Query, map: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
        self.fetch_all(q).await?.iter().map(map).collect()
    }
}
