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
        /// The names a Query request and an XML answer give an entry's key and value
        /// (`key`/`value` unless the model says otherwise, as SNS's `Name`/`Value`).
        key_name: &'static str,
        value_name: &'static str,
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

/// A service's shapes, sorted by name.
pub type ShapeTable = &'static [(&'static str, ShapeDef)];

/// Looks a CodePipeline shape up by its model name.
pub fn shape(name: &str) -> Option<&'static ShapeDef> {
    shape_in(crate::generated::SHAPES, name)
}

/// Looks a shape up in one service's table.
pub fn shape_in(table: ShapeTable, name: &str) -> Option<&'static ShapeDef> {
    table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| &table[i].1)
}
