//! `loadgen import locust locustfile.py`: a scenario from a locustfile's common subset.
//!
//! The file is parsed as Python by `rustpython-parser` (a syntax error is an [`ImportError`] at its line and
//! column), then read as Locust means it: each class deriving `HttpUser` or `FastHttpUser` is a kind of user
//! (one: `[user]` and `[[task]]`; several: `[classes.NAME]` with their `weight`), its `host`, `wait_time`,
//! `on_start`, `@task` methods and `on_stop` become the scenario's; a `SequentialTaskSet` a class lists in
//! `tasks` becomes a flow. The methods' statements are translated by
//! `body`, their values by `value`. What has no translation is a [`Note`] at its line, written as a comment
//! at the end of the scenario: never dropped silently.

mod body;
mod value;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use rustpython_parser::Parse as _;
use rustpython_parser::ast::{self, Constant, Expr, Ranged, Stmt, StmtClassDef, StmtFunctionDef};
use rustpython_parser::text_size::TextRange;
use serde_json::Value as J;

use self::body::{Names, Translator};
use self::value::{Eval, Scope, dotted, is_self, json_path, response_of};
use super::{Draft, DraftClass, DraftLoad, DraftTask, ImportError, Note, Wait};

/// A locustfile larger than this is not one: it is not read further.
const MAX_BYTES: usize = 4 << 20;
/// The most tokens in one statement, and the deepest brackets and blocks: the parser, the AST's drop and the
/// translation recurse on the source's nesting, so bounding it (far above any real locustfile) keeps a hostile
/// file from overflowing the stack.
const MAX_TOKENS: usize = 5_000;
const MAX_NESTING: usize = 100;
/// The stack the import runs on (a thread of its own), ample for the bounds above.
const STACK: usize = 64 << 20;

/// The locustfile `text` (read from `path`, named in errors) as a draft scenario.
pub fn import(text: &str, path: &Path) -> Result<Draft, ImportError> {
    let failed = |message: &str| ImportError {
        path: path.to_path_buf(),
        line: None,
        column: None,
        message: message.to_string(),
    };
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("import-locust".into())
            .stack_size(STACK)
            .spawn_scoped(s, || translate(text, path))
            .map_err(|e| failed(&format!("cannot start the importer: {e}")))?
            .join()
            .map_err(|_| failed("the importer failed on this file (a bug: please report it)"))?
    })
}

fn translate(text: &str, path: &Path) -> Result<Draft, ImportError> {
    let src = Source::new(text);
    let error = |line, column, message: String| ImportError {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    if text.len() > MAX_BYTES {
        return Err(error(
            None,
            None,
            format!("larger than {} MiB: not a locustfile", MAX_BYTES >> 20),
        ));
    }
    if let Err((at, message)) = bounded(text) {
        return Err(error(Some(src.line(at)), Some(src.column(at)), message));
    }
    let suite = ast::Suite::parse(text, &path.display().to_string()).map_err(|e| {
        let at = e.offset.to_usize();
        error(
            Some(src.line(at)),
            Some(src.column(at)),
            format!("not valid Python: {}", e.error),
        )
    })?;

    let mut notes = Vec::new();
    let mut scope = Scope::default();
    let mut users = Vec::new();
    let mut sequences = HashMap::new();
    for s in &suite {
        match s {
            Stmt::Import(_) | Stmt::ImportFrom(_) => {}
            Stmt::Expr(x) if matches!(&*x.value, Expr::Constant(c) if matches!(c.value, Constant::Str(_))) => {}
            Stmt::Assign(a) if a.targets.len() == 1 => {
                let value = Eval::new(&src, &scope).value(&a.value);
                match (&a.targets[0], value) {
                    (Expr::Name(n), Ok(v)) => {
                        scope.module.insert(n.id.to_string(), v);
                    }
                    _ => notes.push(src.left_out(s, "not translated")),
                }
            }
            Stmt::ClassDef(c) => match kind(c) {
                Kind::User => users.push(c),
                Kind::Sequence => {
                    sequences.insert(c.name.to_string(), c);
                }
                Kind::TaskSet => notes.push(src.left_out(
                    s,
                    "a TaskSet: nested task sets are not translated (move its tasks into the user class)",
                )),
                Kind::Other => notes.push(src.left_out(
                    s,
                    "not an HttpUser or FastHttpUser class (a custom client, a base class, or a helper): not translated",
                )),
            },
            Stmt::FunctionDef(f) if !f.decorator_list.is_empty() => notes.push(src.left_out(
                s,
                "a decorated function (an event listener?): not translated",
            )),
            Stmt::FunctionDef(_) => notes.push(src.left_out(s, "a function: not translated where it is called")),
            _ => notes.push(src.left_out(s, "not translated")),
        }
    }
    if users.is_empty() {
        return Err(error(
            None,
            None,
            "no User class: loadgen imports the classes that derive from HttpUser or FastHttpUser, and this file \
             has none"
                .into(),
        ));
    }

    let mut names = Names::default();
    let mut host: Option<String> = None;
    let mut classes = Vec::new();
    let mut used = HashSet::new();
    for c in users {
        let (class, class_host, class_notes) =
            user_class(&src, &scope, &mut names, c, (&sequences, &mut used));
        notes.extend(class_notes);
        match (&host, class_host) {
            (None, Some(h)) => host = Some(h),
            (Some(a), Some(b)) if *a != b => notes.push(Note::at(
                src.line(c.start().to_usize()),
                format!(
                    "class `{}` has its own host `{b}`: the scenario has one host, `{a}`",
                    c.name
                ),
            )),
            _ => {}
        }
        if class.user.tasks.is_empty() {
            notes.push(Note::at(
                src.line(c.start().to_usize()),
                format!(
                    "class `{}` has no task loadgen could translate: it was left out",
                    c.name
                ),
            ));
        } else {
            classes.push(class);
        }
    }
    for (name, c) in &sequences {
        if !used.contains(name) {
            notes.push(src.left_out(
                *c,
                "a SequentialTaskSet that no user class lists in `tasks`: not translated",
            ));
        }
    }
    notes.sort_by_key(|n| n.line);

    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let mut header = vec![
        format!("Imported from {} by `loadgen import locust`.", path.display()),
        "Review it (the notes at the end list what was not translated), then: loadgen check THIS_FILE".into(),
        String::new(),
        "[load] is a placeholder: Locust takes -u, -r and -t on its command line, not from the locustfile. Change it"
            .into(),
        "here or pass loadgen run the same -u, -r and -t.".into(),
    ];
    if host.is_none() {
        header.push(
            "The locustfile names no host: pass --host URL to loadgen run, as to locust.".into(),
        );
    }
    let mut draft = Draft {
        header,
        name: stem,
        host,
        load: Some(DraftLoad {
            users: 10,
            spawn_rate: 2.0,
            duration: Duration::from_secs(60),
        }),
        notes,
        ..Draft::default()
    };
    match classes.len() {
        0 => {
            return Err(error(
                None,
                None,
                "no task could be translated: the User classes' notes say why".into(),
            ));
        }
        1 => {
            if let Some(only) = classes.pop() {
                draft.user = only.user;
            }
        }
        _ => draft.classes = classes,
    }
    Ok(draft)
}

/// Checks the source's nesting (brackets, blocks) and its statements' length against the bounds above, on the
/// lexer's tokens (no recursion); a lexical error is left for the parser to report.
fn bounded(text: &str) -> Result<(), (usize, String)> {
    use rustpython_parser::Tok;
    let (mut brackets, mut blocks, mut tokens) = (0usize, 0usize, 0usize);
    for token in rustpython_parser::lexer::lex(text, rustpython_parser::Mode::Module) {
        let Ok((tok, range)) = token else {
            return Ok(());
        };
        let at = range.start().to_usize();
        match tok {
            Tok::Lpar | Tok::Lsqb | Tok::Lbrace => brackets += 1,
            Tok::Rpar | Tok::Rsqb | Tok::Rbrace => brackets = brackets.saturating_sub(1),
            Tok::Indent => blocks += 1,
            Tok::Dedent => blocks = blocks.saturating_sub(1),
            Tok::Newline => tokens = 0,
            _ => {}
        }
        tokens += 1;
        if brackets > MAX_NESTING || blocks > MAX_NESTING {
            return Err((
                at,
                format!("nested more than {MAX_NESTING} deep: not imported"),
            ));
        }
        if tokens > MAX_TOKENS {
            return Err((
                at,
                format!("a statement of more than {MAX_TOKENS} tokens: not imported"),
            ));
        }
    }
    Ok(())
}

/// The source text, for turning the parser's byte offsets into 1-based lines and columns.
pub struct Source<'a> {
    text: &'a str,
    /// The byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source { text, starts }
    }

    /// The 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }

    /// The 1-based column (in characters) of a byte offset.
    pub fn column(&self, offset: usize) -> usize {
        let start = self.starts[self.line(offset) - 1];
        let end = offset.min(self.text.len());
        self.text
            .get(start..end)
            .map_or(1, |s| s.chars().count() + 1)
    }

    /// A node's source text as shown in a note: its first line, shortened.
    pub fn snippet(&self, range: TextRange) -> String {
        let text = self
            .text
            .get(range.start().to_usize()..range.end().to_usize())
            .unwrap_or("");
        let first = text.lines().next().unwrap_or("").trim();
        let mut shown: String = first.chars().take(70).collect();
        if shown.len() < first.len() || text.trim_end().contains('\n') {
            shown.push_str(" ...");
        }
        shown
    }

    /// A note for a statement left out.
    fn left_out(&self, s: &impl Ranged, why: &str) -> Note {
        Note::at(
            self.line(s.start().to_usize()),
            format!("`{}`: {why}", self.snippet(s.range())),
        )
    }
}

enum Kind {
    User,
    /// A `SequentialTaskSet`: a flow, where a user class lists it in `tasks`.
    Sequence,
    TaskSet,
    Other,
}

/// What a class is to Locust, by its bases' names.
fn kind(c: &StmtClassDef) -> Kind {
    let bases: Vec<String> = c.bases.iter().filter_map(dotted).collect();
    let last = |b: &String| b.rsplit('.').next().unwrap_or(b).to_string();
    if bases
        .iter()
        .any(|b| matches!(last(b).as_str(), "HttpUser" | "FastHttpUser"))
    {
        Kind::User
    } else if bases.iter().any(|b| last(b) == "SequentialTaskSet") {
        Kind::Sequence
    } else if bases.iter().any(|b| last(b) == "TaskSet") {
        Kind::TaskSet
    } else {
        Kind::Other
    }
}

/// The module's `SequentialTaskSet` classes by name, and those a user class has listed.
type Sequences<'s, 'a> = (
    &'s HashMap<String, &'a StmtClassDef>,
    &'s mut HashSet<String>,
);

/// One User class: its draft, its host, and its notes.
fn user_class<'a>(
    src: &'a Source<'a>,
    module: &Scope,
    names: &'a mut Names,
    c: &'a StmtClassDef,
    (sequences, used): Sequences<'_, 'a>,
) -> (DraftClass, Option<String>, Vec<Note>) {
    let mut scope = module.clone();
    scope.captured = captured(&c.body);
    let mut flows = Vec::new();
    let mut tr = Translator::new(src, scope, names);
    let mut class = DraftClass {
        name: c.name.to_string(),
        ..DraftClass::default()
    };
    let mut host = None;
    let mut on_start = None;
    let mut on_stop = None;
    let mut tasks = Vec::new();
    for s in &c.body {
        match s {
            Stmt::Expr(x) if matches!(&*x.value, Expr::Constant(c) if matches!(c.value, Constant::Str(_))) =>
                {}
            Stmt::Pass(_) => {}
            Stmt::Assign(a) if a.targets.len() == 1 => {
                let Expr::Name(n) = &a.targets[0] else {
                    tr.notes.push(src.left_out(s, "not translated"));
                    continue;
                };
                let value = Eval::new(src, &tr.scope).value(&a.value);
                match (n.id.as_str(), value) {
                    ("host", Ok(J::String(h))) => host = Some(h),
                    ("weight", Ok(J::Number(w))) => match w.as_u64().and_then(|w| u32::try_from(w).ok()) {
                        Some(w) if w > 0 => class.weight = Some(w),
                        _ => tr.notes.push(src.left_out(s, "a weight that is not a whole number above 0")),
                    },
                    ("wait_time", _) => match wait(src, &tr.scope, &a.value) {
                        Some(w) => class.user.wait = Some(w),
                        None => tr.notes.push(src.left_out(
                            s,
                            "a wait_time other than between, constant, constant_pacing or constant_throughput \
                             with numbers: not translated",
                        )),
                    },
                    ("tasks", _) => {
                        for (e, weight) in task_refs(&a.value) {
                            match e {
                                Expr::Name(n) if sequences.contains_key(n.id.as_str()) => {
                                    used.insert(n.id.to_string());
                                    flows.push((sequences[n.id.as_str()], weight));
                                }
                                _ => tr.notes.push(src.left_out(
                                    e,
                                    "in `tasks`: only SequentialTaskSet classes are translated",
                                )),
                            }
                        }
                    }
                    ("abstract" | "fixed_count", _) => {
                        tr.notes.push(src.left_out(s, "not translated"))
                    }
                    (name, Ok(v)) => {
                        tr.scope.user.insert(name.to_string(), v);
                    }
                    (_, Err(_)) => tr.notes.push(src.left_out(s, "not translated")),
                }
            }
            Stmt::FunctionDef(f) => match f.name.as_str() {
                "on_start" => on_start = Some(f),
                "on_stop" => on_stop = Some(f),
                _ => match task(src, &tr.scope, f) {
                    Some(t) => tasks.push((f, t)),
                    None => {
                        tr.helpers.insert(f.name.to_string(), f);
                    }
                },
            },
            _ => tr.notes.push(src.left_out(s, "not translated")),
        }
    }
    if let Some(f) = on_start {
        let m = tr.method(f, false);
        class.user.on_start = m.steps;
        class.user.headers.extend(m.headers);
    }
    for (f, (weight, tags)) in tasks {
        let m = tr.method(f, true);
        class.user.headers.extend(m.headers);
        let mut t = DraftTask {
            weight,
            tags,
            restart_session: m.restart,
            ..DraftTask::default()
        };
        match m.steps.len() {
            0 => {
                tr.notes.push(Note::at(
                    src.line(f.start().to_usize()),
                    format!(
                        "task `{}` has no request loadgen could translate: it was left out",
                        f.name
                    ),
                ));
                continue;
            }
            1 => t.name = m.steps[0].name.clone(),
            _ => {
                let (name, renamed) = tr.names.claim(f.name.as_str());
                if renamed {
                    tr.notes.push(Note::at(
                        src.line(f.start().to_usize()),
                        format!(
                            "the flow `{}` is named `{name}`: a request already has its name (loadgen's names are \
                             unique)",
                            f.name
                        ),
                    ));
                }
                t.name = name;
            }
        }
        t.steps = m.steps;
        class.user.tasks.push(t);
    }
    for (seq, weight) in flows {
        let task = sequence(&mut tr, seq, weight);
        class.user.headers.extend(task.1);
        if let Some(t) = task.0 {
            class.user.tasks.push(t);
        }
    }
    if let Some(f) = on_stop {
        let m = tr.method(f, false);
        class.user.on_stop = m.steps;
    }
    let unused: Vec<(String, &StmtFunctionDef)> = tr
        .helpers
        .iter()
        .filter(|(n, _)| !tr.inlined.contains(*n))
        .map(|(n, f)| (n.clone(), *f))
        .collect();
    for (name, f) in unused {
        tr.notes.push(Note::at(
            src.line(f.start().to_usize()),
            format!("method `{name}` is not a task and no task calls it: not translated"),
        ));
    }
    (class, host, tr.notes)
}

/// `tasks = [A, B]` or `tasks = {A: 2, B: 1}`: each entry and its weight; anything else is one entry (noted).
fn task_refs(e: &Expr) -> Vec<(&Expr, Option<u32>)> {
    match e {
        Expr::List(l) => l.elts.iter().map(|x| (x, None)).collect(),
        Expr::Tuple(t) => t.elts.iter().map(|x| (x, None)).collect(),
        Expr::Dict(d) => d
            .keys
            .iter()
            .zip(&d.values)
            .map(|(k, v)| {
                let weight = match v {
                    Expr::Constant(c) => match &c.value {
                        Constant::Int(i) => i.to_string().parse::<u32>().ok().filter(|w| *w > 0),
                        _ => None,
                    },
                    _ => None,
                };
                (k.as_ref().unwrap_or(v), weight)
            })
            .collect(),
        other => vec![(other, None)],
    }
}

/// A `SequentialTaskSet` listed in a user's `tasks`: one flow, its `@task` methods' requests in order (Locust
/// runs them in order too); its default headers. `None` (and a note) when no request could be translated.
fn sequence<'a>(
    tr: &mut Translator<'a>,
    seq: &'a StmtClassDef,
    weight: Option<u32>,
) -> (Option<DraftTask>, Vec<(String, String)>) {
    let src = tr.src;
    let mut helpers = HashMap::new();
    let mut methods = Vec::new();
    for s in &seq.body {
        match s {
            Stmt::FunctionDef(f) if task(src, &tr.scope, f).is_some() => methods.push(f),
            Stmt::FunctionDef(f) if matches!(f.name.as_str(), "on_start" | "on_stop") => {
                tr.notes.push(src.left_out(
                    s,
                    "a task set's on_start/on_stop: not translated (the user's are)",
                ))
            }
            Stmt::FunctionDef(f) => {
                helpers.insert(f.name.to_string(), f);
            }
            Stmt::Expr(x) if matches!(&*x.value, Expr::Constant(c) if matches!(c.value, Constant::Str(_))) =>
                {}
            Stmt::Pass(_) => {}
            _ => tr.notes.push(src.left_out(s, "not translated")),
        }
    }
    tr.scope.captured.extend(captured(&seq.body));
    let saved = std::mem::replace(&mut tr.helpers, helpers);
    tr.in_sequence = true;
    let mut steps = Vec::new();
    let mut headers = Vec::new();
    for f in methods {
        let m = tr.method(f, false);
        steps.extend(m.steps);
        headers.extend(m.headers);
    }
    tr.in_sequence = false;
    tr.helpers = saved;
    if steps.is_empty() {
        tr.notes.push(Note::at(
            src.line(seq.start().to_usize()),
            format!(
                "task set `{}` has no request loadgen could translate: it was left out",
                seq.name
            ),
        ));
        return (None, headers);
    }
    let (name, _) = tr.names.claim(seq.name.as_str());
    let task = DraftTask {
        name,
        weight,
        comments: vec![format!(
            "SequentialTaskSet {}: its tasks' requests in order",
            seq.name
        )],
        steps,
        ..DraftTask::default()
    };
    (Some(task), headers)
}

/// `@task`, `@task(N)`, `@task(weight=N)` and `@tag(...)`: the method's weight and tags, `None` when it is
/// not a task.
fn task(src: &Source, scope: &Scope, f: &StmtFunctionDef) -> Option<(Option<u32>, Vec<String>)> {
    let mut is_task = false;
    let mut weight = None;
    let mut tags = Vec::new();
    for d in &f.decorator_list {
        let (name, args) = match d {
            Expr::Call(c) => (dotted(&c.func), Some(c)),
            e => (dotted(e), None),
        };
        let name = name.unwrap_or_default();
        match name.rsplit('.').next().unwrap_or(&name) {
            "task" => {
                is_task = true;
                let arg =
                    args.and_then(|c| c.args.first().or(c.keywords.first().map(|k| &k.value)));
                if let Some(arg) = arg
                    && let Ok(J::Number(n)) = Eval::new(src, scope).value(arg)
                {
                    weight = n.as_u64().and_then(|w| u32::try_from(w).ok());
                }
            }
            "tag" => {
                for a in args.map(|c| c.args.as_slice()).unwrap_or_default() {
                    if let Ok(J::String(t)) = Eval::new(src, scope).value(a) {
                        tags.push(t);
                    }
                }
            }
            _ => {}
        }
    }
    is_task.then_some((weight, tags))
}

/// `between(a, b)`, `constant(a)`, `constant_pacing(a)`, `constant_throughput(n)`.
fn wait(src: &Source, scope: &Scope, e: &Expr) -> Option<Wait> {
    let Expr::Call(c) = e else { return None };
    let name = dotted(&c.func)?;
    let mut ev = Eval::new(src, scope);
    let mut secs = c.args.iter().map(|a| ev.seconds(a).ok());
    let mut next = || secs.next().flatten();
    let d = Duration::from_secs_f64;
    Some(match name.rsplit('.').next()? {
        "between" => Wait::Between(d(next()?), d(next()?)),
        "constant" => Wait::Constant(d(next()?)),
        "constant_pacing" => Wait::Pacing(d(next()?)),
        "constant_throughput" => Wait::Throughput(next().filter(|n| *n > 0.0)?),
        _ => return None,
    })
}

/// The `self.X` a class assigns from a response's JSON anywhere (they are captures, `{{X}}`, even where a
/// task that reads them comes before the one that captures them).
fn captured(body: &[Stmt]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    fn walk(body: &[Stmt], out: &mut HashMap<String, String>) {
        for s in body {
            match s {
                Stmt::FunctionDef(f) => walk(&f.body, out),
                Stmt::With(w) => walk(&w.body, out),
                Stmt::If(i) => {
                    walk(&i.body, out);
                    walk(&i.orelse, out);
                }
                Stmt::Assign(a) if a.targets.len() == 1 => {
                    if let Expr::Attribute(t) = &a.targets[0]
                        && is_self(&t.value)
                        && let Some(resp) = response_of(&a.value)
                        && json_path(&a.value, resp).is_some_and(|p| p != "$")
                    {
                        out.insert(t.attr.to_string(), body::capture_name(t.attr.as_str()));
                    }
                }
                _ => {}
            }
        }
    }
    walk(body, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(py: &str) -> Draft {
        import(py, Path::new("t.py")).unwrap_or_else(|e| panic!("{e}"))
    }

    const HEAD: &str = "from locust import HttpUser, task, between\n\nclass U(HttpUser):\n";

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let src = Source::new("ab\né x\n\nz");
        assert_eq!((src.line(0), src.column(0)), (1, 1));
        assert_eq!((src.line(2), src.column(2)), (1, 3), "the newline itself");
        assert_eq!((src.line(3), src.column(3)), (2, 1));
        assert_eq!((src.line(6), src.column(6)), (2, 3), "é is one character");
        assert_eq!((src.line(9), src.column(9)), (4, 1));
        assert_eq!(src.line(100), 4, "past the end: the last line");
    }

    #[test]
    fn hostile_nesting_is_refused_at_its_place_without_overflowing() {
        let deep = format!(
            "from locust import HttpUser\nx = {}{}\n",
            "[".repeat(50_000),
            "]".repeat(50_000)
        );
        let e = import(&deep, Path::new("d.py")).expect_err("too deep");
        assert_eq!((e.line, e.column), (Some(2), Some(105)), "{e}");
        let long = format!("x = 1{}\n", " + 1".repeat(100_000));
        let e = import(&long, Path::new("l.py")).expect_err("too long");
        assert!(e.message.contains("more than 5000 tokens"), "{e}");
        let unary = format!("x = {}1\n", "-".repeat(100_000));
        assert!(import(&unary, Path::new("u.py")).is_err());
        // Just below the bounds, the translation itself does not overflow either.
        let json = format!("{}1{}", "[".repeat(99), "]".repeat(99));
        let ok = format!(
            "from locust import HttpUser, task\nclass U(HttpUser):\n    @task\n    def a(self):\n        \
             self.client.post(\"/\", json={json})\n        self.client.get(\"/\" + {}1)\n",
            "-".repeat(4_900)
        );
        let d = import(&ok, Path::new("ok.py")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.user.tasks.len(), 1);
        assert!(matches!(
            d.user.tasks[0].steps[0].body,
            super::super::Body::Json(_)
        ));
        assert!(
            d.notes[0].text.contains("the request was left out"),
            "{:?}",
            d.notes
        );
    }

    #[test]
    fn a_syntax_error_is_located() {
        let e = import("class U(HttpUser):\n  x = (\n", Path::new("f.py")).expect_err("not Python");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().starts_with("f.py:3:"), "{e}");
    }

    #[test]
    fn status_checks_become_expect_and_only_clear_ones() {
        let d = draft(&format!(
            "{HEAD}    @task\n    def a(self):\n        with self.client.get(\"/a\", catch_response=True) as r:\n            \
             if r.status_code not in (200, 204):\n                r.failure(\"x\")\n\n    @task\n    def b(self):\n        \
             with self.client.get(\"/b\", catch_response=True) as r:\n            if r.status_code == 200:\n                \
             pass\n            else:\n                print(r.text)\n"
        ));
        assert_eq!(d.user.tasks[0].steps[0].expect_status, vec![200, 204]);
        assert!(d.user.tasks[1].steps[0].expect_status.is_empty());
        assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
        assert_eq!(d.notes[0].line, Some(16), "{:?}", d.notes);
    }

    #[test]
    fn captures_read_nested_paths_and_feed_later_templates() {
        let d = draft(&format!(
            "{HEAD}    @task\n    def a(self):\n        r = self.client.post(\"/l\", json={{\"n\": -1, \"ok\": True, \"x\": None}})\n        \
             tok = r.json()[\"data\"][\"odd key\"][0]\n        self.client.get(\"/u\", params={{\"q\": \"a b\", \"t\": tok}}, \
             headers={{\"X\": \"v\" + tok}})\n"
        ));
        let steps = &d.user.tasks[0].steps;
        assert_eq!(
            steps[0].captures,
            vec![("tok".to_string(), "$.data['odd key'][0]".to_string())]
        );
        assert_eq!(
            steps[0].body,
            super::super::Body::Json(serde_json::json!({"n": -1, "ok": true, "x": null}))
        );
        assert_eq!(steps[1].path, "/u?q=a+b&t={{tok}}");
        assert_eq!(
            steps[1].headers,
            vec![("X".to_string(), "v{{tok}}".to_string())]
        );
        assert_eq!(d.user.tasks[0].name, "a", "a flow is named by its method");
    }

    #[test]
    fn task_weights_default_headers_raw_bodies_and_flow_names() {
        let d = draft(&format!(
            "{HEAD}    tasks = [browse]\n\n    def on_start(self):\n        self.client.headers[\"X-Team\"] = \"qa\"\n\n    \
             @task(weight=3)\n    def login(self):\n        self.client.request(\"PUT\", \"/a\", data=\"raw\", name=\"login\")\n        \
             self.client.get(\"/b?x={{}}\".format(1))\n        self.client.get(\"/c\")\n"
        ));
        assert_eq!(
            d.user.headers,
            vec![("X-Team".to_string(), "qa".to_string())]
        );
        let task = &d.user.tasks[0];
        assert_eq!(task.weight, Some(3));
        assert_eq!(task.name, "login_2", "the request took `login` first");
        assert_eq!(task.steps[0].method, "PUT");
        assert_eq!(task.steps[0].body, super::super::Body::Text("raw".into()));
        assert_eq!(task.steps[1].path, "/c", "the .format() request left out");
        let lines: Vec<Option<usize>> = d.notes.iter().map(|n| n.line).collect();
        assert_eq!(lines, [Some(4), Some(10), Some(12)], "{:?}", d.notes);
    }

    #[test]
    fn a_capture_name_loadgen_reserves_is_renamed() {
        let d = draft(&format!(
            "{HEAD}    @task\n    def a(self):\n        r = self.client.get(\"/a\")\n        self.session = r.json()[\"s\"]\n        \
             self.client.get(f\"/b/{{self.session}}\")\n"
        ));
        let steps = &d.user.tasks[0].steps;
        assert_eq!(steps[0].captures[0].0, "session_value");
        assert_eq!(steps[1].path, "/b/{{session_value}}");
    }

    #[test]
    fn no_user_class_is_an_error_and_unknown_values_are_noted() {
        let e = import("x = 1\n", Path::new("p.py")).expect_err("no user");
        assert!(e.message.contains("no User class"), "{e}");
        let d = draft(&format!(
            "{HEAD}    @task\n    def a(self):\n        self.client.get(\"/a\", headers={{\"A\": self.unknown}})\n"
        ));
        assert!(d.user.tasks[0].steps[0].headers.is_empty());
        assert_eq!(d.notes[0].line, Some(6));
        assert!(d.notes[0].text.contains("self.unknown"), "{:?}", d.notes);
    }
}
