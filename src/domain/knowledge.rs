//! The knowledge base (政策知识库): articles, their versions and who may keep them, and the
//! search over Chinese text without word breaks.
//!
//! Search indexes text as overlapping pairs of characters ("供暖时间" → 供暖, 暖时, 时间, and the
//! last character alone), each character written as a fixed-width code of lowercase letters so
//! that every backend's tokenizer (SQLite FTS5, PostgreSQL's text search parser, whatever the
//! database's locale) reads the same tokens. A query term is the phrase of its own pairs: the
//! pairs follow each other exactly where the text holds the term, so a phrase match is a
//! substring match, served by the index; a one-character term is a prefix of the tokens
//! beginning with it. Highlighting works on the text itself, here, the same on every backend.

use chrono::NaiveDate;

use super::ids::DepartmentId;
use super::role::Role;

named_enum! {
    /// Who may read an article's approved version.
    pub enum Visibility {
        /// The centre's and the departments' staff.
        Internal,
        /// Also anyone, on the public FAQ (no sign-in).
        Public,
    }
}

named_enum! {
    /// Where a version stands.
    pub enum VersionState {
        /// Written, waiting for approval; shown to no reader.
        Draft,
        /// The version shown.
        Approved,
        /// Approved once, then replaced by a newer approved version.
        Superseded,
        /// A draft overtaken by the approval of a later version; never shown.
        Discarded,
    }
}

/// Longest query a search takes, in characters.
pub const MAX_QUERY_CHARS: usize = 100;
/// Most terms (words separated by spaces or punctuation) a query is read as.
pub const MAX_TERMS: usize = 8;
/// Most distinct pairs a suggestion looks for (the case's title and the start of its text): the
/// first ones, where a caller says what the matter is.
pub const MAX_SUGGESTION_TOKENS: usize = 16;

/// Pairs too common in what callers say to tell one matter from another (怎么, 办理, 请问…):
/// left out of suggestions, where each would match most titles.
const COMMON_PAIRS: &[&str] = &[
    "怎么", "什么", "如何", "哪里", "哪个", "可以", "需要", "办理", "我们", "我家", "家里", "一下",
    "请问", "问题", "时候", "现在", "没有", "这个", "那个", "已经", "还是", "因为", "所以", "但是",
    "如果", "一个", "不是", "就是", "我的", "自己", "他们", "反映", "咨询", "投诉", "要求", "情况",
    "希望", "解决", "相关", "部门", "本市", "市民",
];

/// A character as it is indexed and searched: ASCII and full-width Latin letters folded to
/// lowercase half-width, digits kept; `None` for what separates words (spaces, punctuation).
fn fold(c: char) -> Option<char> {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    if c.is_alphanumeric() {
        Some(c.to_lowercase().next().unwrap_or(c))
    } else {
        None
    }
}

/// Five letters `a`–`z` (base 26, 26⁵ > 0x10FFFF): every character the same width, so a token's
/// first five letters are its first character.
fn encode(c: char, out: &mut String) {
    let mut n = c as u32;
    let mut letters = [b'a'; 5];
    for slot in letters.iter_mut().rev() {
        *slot = b'a' + (n % 26) as u8;
        n /= 26;
    }
    out.push_str(std::str::from_utf8(&letters).unwrap_or("aaaaa"));
}

/// The runs of word characters of `text`, folded.
fn runs(text: &str) -> impl Iterator<Item = Vec<char>> + '_ {
    let mut chars = text.chars().map(fold).peekable();
    std::iter::from_fn(move || {
        while chars.peek().is_some_and(Option::is_none) {
            chars.next();
        }
        let run: Vec<char> =
            std::iter::from_fn(|| chars.next_if(Option::is_some).flatten()).collect();
        (!run.is_empty()).then_some(run)
    })
}

/// The tokens of one run: each pair of neighbours, then its last character alone.
fn run_tokens(run: &[char], out: &mut String) {
    for pair in run.windows(2) {
        if !out.is_empty() {
            out.push(' ');
        }
        encode(pair[0], out);
        encode(pair[1], out);
    }
    if let Some(&last) = run.last() {
        if !out.is_empty() {
            out.push(' ');
        }
        encode(last, out);
    }
}

/// `text` as the index stores it: its tokens, separated by spaces.
pub fn index_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 4);
    for run in runs(text) {
        run_tokens(&run, &mut out);
    }
    out
}

/// One word of a query, folded: the texts that hold it match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term(Vec<char>);

impl Term {
    /// The phrase of the term's pairs; for a one-character term, the prefix of the tokens that
    /// begin with it (`prefix` true).
    pub fn tokens(&self) -> (Vec<String>, bool) {
        if let [one] = self.0.as_slice() {
            let mut token = String::new();
            encode(*one, &mut token);
            return (vec![token], true);
        }
        let tokens = self
            .0
            .windows(2)
            .map(|pair| {
                let mut token = String::with_capacity(10);
                encode(pair[0], &mut token);
                encode(pair[1], &mut token);
                token
            })
            .collect();
        (tokens, false)
    }

    pub fn chars(&self) -> &[char] {
        &self.0
    }
}

/// Reads a search query: its words (separated by spaces or punctuation), at most [`MAX_TERMS`],
/// the same word once. Empty, too long, or without a single letter or digit: refused.
pub fn parse_query(q: &str) -> Result<Vec<Term>, &'static str> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err("q is longer than 100 characters");
    }
    let mut terms: Vec<Term> = Vec::new();
    for run in runs(q) {
        let term = Term(run);
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    if terms.is_empty() {
        return Err("q needs at least one letter or digit");
    }
    if terms.len() > MAX_TERMS {
        return Err("q has more than 8 words");
    }
    Ok(terms)
}

/// The distinct pairs of a free text (a case being typed), in order, at most
/// [`MAX_SUGGESTION_TOKENS`]: what a suggestion looks for in titles and keywords.
pub fn suggestion_tokens(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut tokens = Vec::new();
    for run in runs(text) {
        for pair in run.windows(2) {
            if COMMON_PAIRS
                .iter()
                .any(|common| common.chars().eq(pair.iter().copied()))
            {
                continue;
            }
            let mut token = String::with_capacity(10);
            encode(pair[0], &mut token);
            encode(pair[1], &mut token);
            if seen.insert(token.clone()) {
                tokens.push(token);
                if tokens.len() == MAX_SUGGESTION_TOKENS {
                    return tokens;
                }
            }
        }
    }
    tokens
}

/// The char ranges of `text` where any of `terms` occurs (folded comparison), in order, merged
/// where they overlap.
fn hits(text: &[char], terms: &[Term]) -> Vec<(usize, usize)> {
    let folded: Vec<Option<char>> = text.iter().map(|&c| fold(c)).collect();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for term in terms {
        let needle = term.chars();
        if needle.is_empty() || needle.len() > folded.len() {
            continue;
        }
        for start in 0..=folded.len() - needle.len() {
            if needle
                .iter()
                .zip(&folded[start..])
                .all(|(n, f)| Some(*n) == *f)
            {
                ranges.push((start, start + needle.len()));
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn escape_into(out: &mut String, chars: &[char]) {
    for &c in chars {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// `text` HTML-escaped (for a title without hits).
pub fn escape_html(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, &chars);
    out
}

/// `chars[from..to]` HTML-escaped with the hits inside wrapped in `<mark>`…`</mark>`.
fn marked(chars: &[char], ranges: &[(usize, usize)], from: usize, to: usize) -> String {
    let mut out = String::new();
    let mut at = from;
    for &(start, end) in ranges {
        let (start, end) = (start.max(from), end.min(to));
        if start >= end {
            continue;
        }
        escape_into(&mut out, &chars[at..start]);
        out.push_str("<mark>");
        escape_into(&mut out, &chars[start..end]);
        out.push_str("</mark>");
        at = end;
    }
    escape_into(&mut out, &chars[at..to]);
    out
}

/// Whether any of `terms` occurs in `text`.
pub fn mentions(text: &str, terms: &[Term]) -> bool {
    let chars: Vec<char> = text.chars().collect();
    !hits(&chars, terms).is_empty()
}

/// The whole of a short text (a title), HTML-escaped, with its hits marked; `None` without hits.
pub fn highlight_all(text: &str, terms: &[Term]) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let ranges = hits(&chars, terms);
    (!ranges.is_empty()).then(|| marked(&chars, &ranges, 0, chars.len()))
}

/// Characters of context in a fragment.
const FRAGMENT_CHARS: usize = 80;
/// Characters shown before a fragment's first hit.
const LEAD_CHARS: usize = 20;

/// Up to `max` fragments of a long text (a body) around its hits, each about 80 characters,
/// HTML-escaped, hits marked, `…` where the text was cut.
pub fn fragments(text: &str, terms: &[Term], max: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let ranges = hits(&chars, terms);
    let mut out = Vec::new();
    let mut covered = 0;
    for &(start, _) in &ranges {
        if out.len() == max {
            break;
        }
        if start < covered {
            continue;
        }
        let from = start.saturating_sub(LEAD_CHARS).max(covered);
        let to = (from + FRAGMENT_CHARS).min(chars.len());
        let mut fragment = String::new();
        if from > 0 {
            fragment.push('…');
        }
        fragment.push_str(&marked(&chars, &ranges, from, to));
        if to < chars.len() {
            fragment.push('…');
        }
        out.push(fragment.replace(['\n', '\r'], " "));
        covered = to;
    }
    out
}

/// Whether an article valid from `from` until `until` (both days included; `None`: open) is
/// shown on `day`.
pub fn valid_on(from: Option<NaiveDate>, until: Option<NaiveDate>, day: NaiveDate) -> bool {
    from.is_none_or(|from| from <= day) && until.is_none_or(|until| day <= until)
}

/// Who keeps an article (drafts new versions, reads its drafts and history): the centre's
/// supervisors and administrators any article; department staff and admins their own
/// department's.
pub fn may_keep(role: Role, department: Option<DepartmentId>, owner: Option<DepartmentId>) -> bool {
    match role {
        Role::Supervisor | Role::Admin => true,
        Role::DepartmentStaff | Role::DepartmentAdmin => {
            department.is_some() && department == owner
        }
        _ => false,
    }
}

/// Who approves a version: a centre supervisor any; a department admin their own department's.
pub fn may_approve(
    role: Role,
    department: Option<DepartmentId>,
    owner: Option<DepartmentId>,
) -> bool {
    match role {
        Role::Supervisor => true,
        Role::DepartmentAdmin => department.is_some() && department == owner,
        _ => false,
    }
}

/// Why a version cannot be approved, if it cannot: only the newest version, and only while it is
/// a draft (an approval of an older draft would silently drop the newer edit).
pub fn approvable(state: VersionState, version: i32, latest: i32) -> Result<(), ApprovalRefused> {
    if state != VersionState::Draft {
        return Err(ApprovalRefused::NotDraft);
    }
    if version != latest {
        return Err(ApprovalRefused::Outdated);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalRefused {
    NotDraft,
    Outdated,
}

/// Keywords as stored: trimmed, the same one once, in the order given.
pub fn normalized_keywords(keywords: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for keyword in keywords {
        let keyword = keyword.trim();
        if !keyword.is_empty() && !out.iter().any(|k| k == keyword) {
            out.push(keyword.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(q: &str) -> Vec<Term> {
        parse_query(q).unwrap()
    }

    /// A term's phrase occurs in the indexed text exactly when the text holds the term.
    fn phrase_in(text: &str, term: &Term) -> bool {
        let indexed: Vec<String> = index_text(text).split(' ').map(str::to_owned).collect();
        let (tokens, prefix) = term.tokens();
        if prefix {
            return indexed.iter().any(|t| t.starts_with(&tokens[0]));
        }
        indexed
            .windows(tokens.len())
            .any(|w| w == tokens.as_slice())
    }

    #[test]
    fn characters_encode_to_five_letters() {
        for c in ['a', '供', '\u{10FFFF}', '9'] {
            let mut s = String::new();
            encode(c, &mut s);
            assert_eq!(s.len(), 5);
            assert!(s.bytes().all(|b| b.is_ascii_lowercase()));
        }
    }

    #[test]
    fn index_holds_pairs_and_last_characters() {
        let mut expected = String::new();
        for (i, part) in [("供", "暖"), ("暖", "时"), ("时", "间")]
            .iter()
            .enumerate()
        {
            if i > 0 {
                expected.push(' ');
            }
            encode(part.0.chars().next().unwrap(), &mut expected);
            encode(part.1.chars().next().unwrap(), &mut expected);
        }
        expected.push(' ');
        encode('间', &mut expected);
        assert_eq!(index_text("供暖时间"), expected);
        assert_eq!(index_text("  ，。 "), "");
    }

    #[test]
    fn phrases_match_exactly_the_substrings() {
        let text = "本市供暖季为11月15日至次年3月15日，ＥＴＣ办理请到营业厅。";
        for (q, found) in [
            ("供暖", true),
            ("供暖季", true),
            ("暖季为", true),
            ("暖气", false),
            ("季", true),
            ("厅", true),
            ("11月15日", true),
            ("etc", true),
            ("ETC办理", true),
            ("日至次年", true),
            ("日，至", true),
            ("营业厅。", true),
        ] {
            let parsed = terms(q);
            let all = parsed.iter().all(|t| phrase_in(text, t));
            assert_eq!(all, found, "{q}");
        }
        // Words across punctuation are two terms, each found on its own (`日` and `至` above).
        assert_eq!(terms("日，至").len(), 2);
    }

    #[test]
    fn queries_are_read_as_distinct_words() {
        assert_eq!(terms("供暖 时间 供暖").len(), 2);
        assert!(parse_query("  ，，").is_err());
        assert!(parse_query(&"字".repeat(101)).is_err());
        assert!(parse_query("a b c d e f g h i").is_err());
        assert_eq!(terms("Ａｂ").first().unwrap().chars(), &['a', 'b']);
    }

    #[test]
    fn highlights_escape_and_mark() {
        let t = terms("供暖");
        assert_eq!(
            highlight_all("<b>供暖</b>季", &t).unwrap(),
            "&lt;b&gt;<mark>供暖</mark>&lt;/b&gt;季"
        );
        assert_eq!(highlight_all("停水", &t), None);
        let body = format!("{}供暖{}", "甲".repeat(50), "乙".repeat(100));
        let f = fragments(&body, &t, 2);
        assert_eq!(f.len(), 1);
        assert!(f[0].starts_with('…') && f[0].ends_with('…'));
        assert!(f[0].contains("<mark>供暖</mark>"));
        assert_eq!(f[0].chars().filter(|c| *c == '甲').count(), 20);
        // Overlapping hits of two terms make one mark.
        assert_eq!(
            highlight_all("供暖季", &terms("供暖 暖季")).unwrap(),
            "<mark>供暖季</mark>"
        );
    }

    #[test]
    fn suggestion_tokens_are_distinct_pairs() {
        let tokens = suggestion_tokens("暖气不热，暖气不热");
        assert_eq!(tokens.len(), 3);
        assert_eq!(suggestion_tokens(&"天地玄黄宇宙洪荒".repeat(20)).len(), 8);
        // Common pairs say nothing of the matter.
        assert_eq!(suggestion_tokens("请问怎么办理").len(), 2);
        let long: String = ('一'..='龥').step_by(7).take(100).collect();
        assert_eq!(suggestion_tokens(&long).len(), MAX_SUGGESTION_TOKENS);
    }

    #[test]
    fn validity_includes_both_days() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(valid_on(None, None, d("2026-01-01")));
        assert!(valid_on(
            Some(d("2026-01-01")),
            Some(d("2026-01-31")),
            d("2026-01-31")
        ));
        assert!(!valid_on(Some(d("2026-01-02")), None, d("2026-01-01")));
        assert!(!valid_on(None, Some(d("2025-12-31")), d("2026-01-01")));
    }

    #[test]
    fn keepers_and_approvers() {
        let own = Some(DepartmentId(3));
        let other = Some(DepartmentId(4));
        assert!(may_keep(Role::DepartmentStaff, own, own));
        assert!(!may_keep(Role::DepartmentStaff, own, other));
        assert!(!may_keep(Role::DepartmentStaff, own, None));
        assert!(may_keep(Role::Supervisor, None, other));
        assert!(!may_keep(Role::Operator, None, None));
        assert!(may_approve(Role::DepartmentAdmin, own, own));
        assert!(!may_approve(Role::DepartmentStaff, own, own));
        assert!(!may_approve(Role::DepartmentAdmin, own, None));
        assert!(may_approve(Role::Supervisor, None, None));
        assert!(!may_approve(Role::Admin, None, None));
    }

    #[test]
    fn only_the_newest_draft_is_approvable() {
        assert_eq!(approvable(VersionState::Draft, 3, 3), Ok(()));
        assert_eq!(
            approvable(VersionState::Draft, 2, 3),
            Err(ApprovalRefused::Outdated)
        );
        assert_eq!(
            approvable(VersionState::Approved, 3, 3),
            Err(ApprovalRefused::NotDraft)
        );
    }

    #[test]
    fn keywords_are_trimmed_and_distinct() {
        let k = normalized_keywords(&[" 暖气 ".into(), "暖气".into(), "".into(), "采暖".into()]);
        assert_eq!(k, vec!["暖气".to_owned(), "采暖".to_owned()]);
    }
}
