//! The description of one shape of the model, as the generated `SHAPES` table holds it.

/// A shape's type and constraints, straight from botocore's model.
#[derive(Debug, Clone, Copy)]
pub enum ShapeDef {
    String {
        min: Option<i64>,
        max: Option<i64>,
        pattern: Option<&'static str>,
        enum_values: &'static [&'static str],
        sensitive: bool,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Boolean,
    Timestamp,
    Double,
    List {
        member: &'static str,
        min: Option<i64>,
        max: Option<i64>,
    },
    Map {
        key: &'static str,
        value: &'static str,
        min: Option<i64>,
        max: Option<i64>,
    },
    Structure {
        members: &'static [Member],
        exception: bool,
    },
}

/// One member of a structure shape.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub name: &'static str,
    pub shape: &'static str,
    pub required: bool,
}

/// Looks a shape up by its model name.
pub fn shape(name: &str) -> Option<&'static ShapeDef> {
    let table = crate::generated::SHAPES;
    table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| &table[i].1)
}
