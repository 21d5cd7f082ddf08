//! Human names for grammar rules and for the text found at an error, so raw rule names never
//! reach the user.

use super::parser::Rule;

/// The name of a rule as the user would say it; `None` for rules that are never worth naming
/// (whitespace, inner pieces covered by their parent).
pub fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::program | Rule::block_only | Rule::block => BLOCK,
        Rule::data_block
        | Rule::param_block
        | Rule::network_block
        | Rule::prior_block
        | Rule::likelihood_block
        | Rule::predict_block
        | Rule::kw_data
        | Rule::kw_param
        | Rule::kw_network
        | Rule::kw_prior
        | Rule::kw_likelihood
        | Rule::kw_predict => BLOCK,
        Rule::decl => "a declaration such as `sigma: real<lower=0>`",
        Rule::type_expr | Rule::base_type => "a type such as `real`, `vector[N]` or `matrix[N, D]`",
        Rule::bounds => "bounds such as `<lower=0>`",
        Rule::bound | Rule::bound_kind => "`lower=` or `upper=`",
        Rule::dims => "sizes in brackets such as `[N, D]`",
        Rule::dim => "a size (a whole number or a name such as `N`)",
        Rule::layer => "a layer such as `dense(50, tanh)`",
        Rule::layer_args | Rule::layer_arg | Rule::named_arg => {
            "a layer argument such as `50`, `tanh` or `bias = false`"
        }
        Rule::stmt | Rule::let_stmt | Rule::tilde_stmt | Rule::assign_stmt | Rule::kw_let => {
            "a statement such as `sigma ~ normal(0, 1)`"
        }
        Rule::path => "a name such as `sigma` or a path such as `f.weight`",
        Rule::path_seg => "a layer name, a layer number, `weight` or `bias`",
        Rule::args | Rule::expr | Rule::primary | Rule::call | Rule::neg | Rule::prefix => {
            "an expression"
        }
        Rule::infix | Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::pow => {
            "an operator such as `+` or `*`"
        }
        Rule::postfix | Rule::index | Rule::index_item | Rule::all => "an index such as `[:, 0]`",
        Rule::ident => "a name such as `w1`",
        Rule::number | Rule::signed_number | Rule::bad_number => "a number",
        Rule::integer => "a whole number",
        Rule::boolean => "`true` or `false`",
        Rule::EOI => "the end of the file",
        Rule::WHITESPACE | Rule::COMMENT | Rule::ident_char | Rule::keyword => return None,
    })
}

const BLOCK: &str = "a block such as `data { .. }` or `network f { .. }`";

/// Punctuation worth naming when pest expected it (keywords are named through their rules).
pub fn token_name(token: &str) -> Option<String> {
    const PUNCT: [&str; 13] = [
        "{", "}", "(", ")", "[", "]", ":", "~", "=", ",", "<", ">", ".",
    ];
    PUNCT.contains(&token).then(|| format!("'{token}'"))
}

/// What the text at `pos` is, in words, and how many bytes to underline.
pub fn describe_found(src: &str, pos: usize) -> (String, usize) {
    if pos >= src.len() {
        return ("the end of the file".into(), 0);
    }
    let rest = &src[pos..];
    let c = rest.chars().next().expect("internal: pos < len");
    if c.is_alphanumeric() || c == '_' {
        let len: usize = rest
            .chars()
            .take_while(|ch| ch.is_alphanumeric() || *ch == '_' || *ch == '.')
            .map(char::len_utf8)
            .sum();
        let word = rest[..len].trim_end_matches('.');
        return (format!("'{word}'"), word.len());
    }
    if c == '\n' || c == '\r' {
        return ("the end of the line".into(), 1);
    }
    (format!("'{c}'"), c.len_utf8())
}
