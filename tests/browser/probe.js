// What a reader gets on one page of the book, measured in the browser after MathJax and the widgets ran.
// Evaluated by bookcheck.probe(); returns plain data that check_book.py turns into pass/fail with reasons.
() => {
  const article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const short = (s, n = 90) => (s || "").replace(/\s+/g, " ").trim().slice(0, n);
  const visible = (el) => {
    const style = getComputedStyle(el);
    return style.display !== "none" && style.visibility !== "hidden" && el.getClientRects().length > 0;
  };

  // Title and headings (the "#" of Sphinx's header links is not part of a heading's text).
  const headingText = (h) => {
    const copy = h.cloneNode(true);
    copy.querySelectorAll(".headerlink").forEach((a) => a.remove());
    return short(copy.textContent);
  };
  const headings = Array.from(article.querySelectorAll("h1, h2, h3, h4, h5, h6")).map((h) => ({
    level: Number(h.tagName[1]),
    text: headingText(h),
  }));

  // Math: every Sphinx math element must hold MathJax output; no MathJax errors; no raw TeX left in text.
  const mathElements = Array.from(article.querySelectorAll(".math"));
  const unrendered = mathElements.filter((el) => !el.querySelector("mjx-container")).map((el) => short(el.textContent, 60));
  const mathErrors = Array.from(document.querySelectorAll("mjx-merror, [data-mjx-error]")).map(
    (el) => el.getAttribute("data-mjx-error") || short(el.textContent, 60));
  const rawTex = [];
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight, .widget-subarea";
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    const text = node.textContent;
    const match = text.match(/\$\$?[^$\n]*[\\^_{}=][^$\n]*\$\$?|\\\(|\\\)|\\\[|\\\]|\\begin\{/);
    if (match) rawTex.push(short(text.slice(Math.max(0, match.index - 20), match.index + 60), 80));
  }

  // Images: loaded (naturalWidth > 0; an SVG without intrinsic size counts when it decoded) and alt text.
  const images = Array.from(document.images).map((img) => {
    const rect = img.getBoundingClientRect();
    return {
      src: img.getAttribute("src") || "",
      url: img.currentSrc || img.src,
      alt: img.getAttribute("alt"),
      complete: img.complete,
      naturalWidth: img.naturalWidth,
      naturalHeight: img.naturalHeight,
      width: Math.round(rect.width),
      height: Math.round(rect.height),
      inArticle: article.contains(img),
      inWidget: !!img.closest(".widget-subarea"),
      fromNotebook: !!img.closest(".cell_output"),
      visible: visible(img),
    };
  });

  // Saved widgets: each view tag gets a drawn widget (html-manager inserts div.widget-subarea before it).
  const stateTags = document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]');
  let modelIds = [];
  stateTags.forEach((tag) => { try { modelIds = modelIds.concat(Object.keys(JSON.parse(tag.textContent).state || {})); } catch (e) { /* reported below */ } });
  const widgetViews = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')).map((tag) => {
    let modelId = null;
    try { modelId = JSON.parse(tag.textContent).model_id; } catch (e) { /* reported as null */ }
    const area = tag.previousElementSibling;
    const drawn = !!(area && area.classList.contains("widget-subarea") && area.querySelector(".jupyter-widgets"));
    return {
      modelId,
      inState: modelIds.includes(modelId),
      drawn,
      parts: drawn ? area.querySelectorAll(".jupyter-widgets").length : 0,
      height: drawn ? Math.round(area.getBoundingClientRect().height) : 0,
    };
  });
  // A widget saved without its state shows Python's repr instead: "interactive(children=(...", "HBox(children=".
  const fallbackText = Array.from(article.querySelectorAll(".cell_output pre")).map((pre) => pre.textContent)
    .filter((t) => /^\s*(interactive|[A-Z]\w*(Box|Slider|Progress|Button|Dropdown|Widget|Output|Text|Checkbox|Tab|Accordion))\(\s*(children|value|description|layout|options|outputs)=/m.test(t))
    .map((t) => short(t, 80));

  // Links: every local link (resolved by the browser) for the resolver in check_book.py.
  const links = Array.from(article.querySelectorAll("a[href]"))
    .concat(Array.from(document.querySelectorAll(".bd-sidebar-primary a[href], .prev-next-area a[href], .bd-toc a[href]")))
    .map((a) => ({ href: a.href, text: short(a.textContent, 40) }));
  const ids = Array.from(document.querySelectorAll("[id]")).map((el) => el.id)
    .concat(Array.from(document.querySelectorAll("a[name]")).map((el) => el.getAttribute("name")));

  // Launch buttons: the Colab link(s) of the page.
  const colab = Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]')).map((a) => a.getAttribute("href"));

  // Contrast (WCAG 2): text colour against the background it is drawn on, for visible text in the article.
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, bottom) => { const a = top[3]; return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]); };
  const luminance = (c) => { const ch = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]; };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.backgroundImage && style.backgroundImage !== "none") return null;  // cannot judge
      const bg = parse(style.backgroundColor);
      if (bg && bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
    }
    let colour = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) colour = over(layers[i], colour);
    return colour;
  };
  const lowContrast = [];
  const seen = new Set();
  article.querySelectorAll("*").forEach((el) => {
    if (el.closest("svg, mjx-container, script, style")) return;
    const ownText = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!ownText || !visible(el)) return;
    const style = getComputedStyle(el);
    const bg = background(el);
    const fg = parse(style.color);
    if (!bg || !fg) return;
    const colour = over(fg, bg);
    const [l1, l2] = [luminance(colour), luminance(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    const key = `${style.color}|${bg.join(",")}`;
    if (ratio < needed && !seen.has(key)) {
      seen.add(key);
      lowContrast.push({ text: short(el.textContent, 40), tag: el.tagName.toLowerCase(), cls: el.className,
        ratio: Math.round(ratio * 100) / 100, needed, color: style.color, background: `rgb(${bg.slice(0, 3).map(Math.round).join(", ")})` });
    }
  });

  return {
    title: document.title,
    url: location.href,
    headings,
    math: { count: mathElements.length, rendered: article.querySelectorAll("mjx-container").length, unrendered, errors: mathErrors, rawTex },
    images,
    widgets: { stateTags: stateTags.length, views: widgetViews, fallbackText },
    links,
    ids,
    colab,
    lowContrast,
  };
}
