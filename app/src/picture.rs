//! Exports the graph as it is on screen — zoom, colours, health and all — as an SVG file or
//! a PNG picture, for a postmortem or a design review.
//!
//! The page styles the SVG with CSS variables and classes a standalone file would not have,
//! so the copy carries each element's computed style inline. A canvas (the renderer of large
//! topologies) is already a picture: it is saved as it is.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, HtmlAnchorElement, HtmlCanvasElement, HtmlImageElement};

/// The computed properties an SVG element's look depends on.
const STYLE_PROPERTIES: [&str; 16] = [
    "fill",
    "fill-opacity",
    "stroke",
    "stroke-width",
    "stroke-dasharray",
    "stroke-opacity",
    "stroke-linecap",
    "opacity",
    "display",
    "visibility",
    "font-family",
    "font-size",
    "font-weight",
    "text-anchor",
    "dominant-baseline",
    "paint-order",
];

/// How much bigger than on screen a PNG is drawn (sharp on high-density screens).
const PNG_SCALE: f64 = 2.0;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Picture {
    Svg,
    Png,
}

/// Saves the graph on screen as `{stem}.svg` or `{stem}.png`.
pub fn save_view(picture: Picture, stem: &str) -> Result<(), String> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let graph = document
        .query_selector("[data-testid=graph]")
        .ok()
        .flatten()
        .ok_or("there is no graph on screen to export")?;
    let canvas = graph
        .clone()
        .dyn_into::<HtmlCanvasElement>()
        .ok()
        .or_else(|| {
            graph
                .query_selector("canvas")
                .ok()
                .flatten()
                .and_then(|c| c.dyn_into().ok())
        });
    if let Some(canvas) = canvas {
        if picture == Picture::Svg {
            return Err(
                "this topology is drawn on a canvas (it is large): export it as PNG".into(),
            );
        }
        let url = canvas.to_data_url_with_type("image/png").map_err(message)?;
        return download(&document, &url, &format!("{stem}.png"));
    }
    let svg = standalone_svg(&document, &graph)?;
    match picture {
        Picture::Svg => {
            let url = format!(
                "data:image/svg+xml;charset=utf-8,{}",
                String::from(js_sys::encode_uri_component(&svg))
            );
            download(&document, &url, &format!("{stem}.svg"))
        }
        Picture::Png => {
            let rect = graph.get_bounding_client_rect();
            png_of(
                document,
                &svg,
                rect.width(),
                rect.height(),
                format!("{stem}.png"),
            )
        }
    }
}

/// The graph's SVG with every element's computed look inline, a background, and a size.
fn standalone_svg(document: &Document, graph: &Element) -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let copy: Element = graph
        .clone_node_with_deep(true)
        .map_err(message)?
        .dyn_into()
        .map_err(|_| "the graph is not an element")?;
    let originals = graph.query_selector_all("*").map_err(message)?;
    let copies = copy.query_selector_all("*").map_err(message)?;
    for k in 0..originals.length() {
        let (Some(original), Some(copied)) = (originals.item(k), copies.item(k)) else {
            continue;
        };
        let (Ok(original), Ok(copied)) =
            (original.dyn_into::<Element>(), copied.dyn_into::<Element>())
        else {
            continue;
        };
        let Ok(Some(style)) = window.get_computed_style(&original) else {
            continue;
        };
        let inline: String = STYLE_PROPERTIES
            .iter()
            .filter_map(|p| {
                let value = style.get_property_value(p).ok()?;
                (!value.is_empty()).then(|| format!("{p}:{value};"))
            })
            .collect();
        copied.set_attribute("style", &inline).map_err(message)?;
        // Nothing moves in a picture.
        copied.remove_attribute("class").map_err(message)?;
    }
    let rect = graph.get_bounding_client_rect();
    let background = window
        .get_computed_style(&document.body().ok_or("no body")?.into())
        .ok()
        .flatten()
        .and_then(|s| s.get_property_value("background-color").ok())
        .unwrap_or_else(|| "#0d1117".into());
    copy.set_attribute("xmlns", "http://www.w3.org/2000/svg")
        .map_err(message)?;
    copy.set_attribute("width", &format!("{}", rect.width()))
        .map_err(message)?;
    copy.set_attribute("height", &format!("{}", rect.height()))
        .map_err(message)?;
    copy.set_attribute("style", &format!("background:{background}"))
        .map_err(message)?;
    copy.remove_attribute("class").map_err(message)?;
    web_sys::XmlSerializer::new()
        .map_err(message)?
        .serialize_to_string(&copy)
        .map_err(message)
}

/// Draws `svg` on a canvas once the browser has decoded it, and saves that as a PNG.
fn png_of(
    document: Document,
    svg: &str,
    width: f64,
    height: f64,
    file: String,
) -> Result<(), String> {
    let image = HtmlImageElement::new().map_err(message)?;
    let loaded = image.clone();
    let onload = Closure::once(move || {
        let drawn = (|| -> Result<(), String> {
            let canvas: HtmlCanvasElement = document
                .create_element("canvas")
                .map_err(message)?
                .dyn_into()
                .map_err(|_| "no canvas")?;
            canvas.set_width((width * PNG_SCALE) as u32);
            canvas.set_height((height * PNG_SCALE) as u32);
            let context: web_sys::CanvasRenderingContext2d = canvas
                .get_context("2d")
                .map_err(message)?
                .ok_or("no 2d context")?
                .dyn_into()
                .map_err(|_| "no 2d context")?;
            context
                .draw_image_with_html_image_element_and_dw_and_dh(
                    &loaded,
                    0.0,
                    0.0,
                    width * PNG_SCALE,
                    height * PNG_SCALE,
                )
                .map_err(message)?;
            let url = canvas.to_data_url_with_type("image/png").map_err(message)?;
            download(&document, &url, &file)
        })();
        if let Err(err) = drawn {
            web_sys::console::error_1(&format!("PNG export: {err}").into());
        }
    });
    image.set_onload(Some(onload.as_ref().unchecked_ref()));
    // The image owns its handler from now on.
    onload.forget();
    image.set_src(&format!(
        "data:image/svg+xml;charset=utf-8,{}",
        String::from(js_sys::encode_uri_component(svg))
    ));
    Ok(())
}

/// Saves `url` under `file` name, as a download link would.
fn download(document: &Document, url: &str, file: &str) -> Result<(), String> {
    let link: HtmlAnchorElement = document
        .create_element("a")
        .map_err(message)?
        .dyn_into()
        .map_err(|_| "no link element")?;
    link.set_href(url);
    link.set_download(file);
    link.click();
    Ok(())
}

fn message(value: JsValue) -> String {
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
