//! The player (`GET /{path}`) and publisher (`GET /{path}/publish`) pages: plain HTML and
//! JavaScript, served from the binary. They talk WHEP/WHIP to the endpoints next to them,
//! passing the page's query (`?user=&pass=`) along.

pub(crate) const PLAYER: &str = include_str!("pages/player.html");
pub(crate) const PUBLISHER: &str = include_str!("pages/publish.html");
