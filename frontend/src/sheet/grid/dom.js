// Small DOM writes the grid repeats every frame: set only what changed, place a box, and pools of
// divs reused frame after frame.

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  node.className = cls;
  node.textContent = text;
  return node;
}

export function setIf(node, prop, value) {
  if (node[prop] !== value) node[prop] = value;
}

/** Set an attribute if it changed; null removes it. */
export function setAttr(node, name, value) {
  if (value === null) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

export function setStyle(node, prop, value) {
  if (node.style[prop] !== value) node.style[prop] = value;
}

/** Put a node on a rectangle {x, y, w, h}, or hide it (null). */
export function place(node, box) {
  if (!box) {
    node.hidden = true;
    return;
  }
  node.hidden = false;
  node.style.transform = `translate(${box.x}px,${box.y}px)`;
  node.style.width = `${box.w}px`;
  node.style.height = `${box.h}px`;
}

/** Divs of one class in one parent, made once and shown or hidden as a frame needs them. */
export class Pool {
  constructor(parent, cls) {
    this.parent = parent;
    this.cls = cls;
    this.divs = [];
  }

  /** The i-th div, shown. */
  get(i) {
    let div = this.divs[i];
    if (!div) {
      div = document.createElement("div");
      div.className = this.cls;
      this.parent.appendChild(div);
      this.divs.push(div);
    }
    if (div.hidden) div.hidden = false;
    return div;
  }

  /** Hide the divs from `from` on. */
  hideFrom(from) {
    for (let i = from; i < this.divs.length; i++) if (!this.divs[i].hidden) this.divs[i].hidden = true;
  }
}
