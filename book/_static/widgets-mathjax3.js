// The Jupyter widgets embed script (offline/jupyter-widgets/embed.js) typesets widget labels through
// MathJax 2's API, MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book loads MathJax 3, where
// that call threw "Cannot read properties of undefined (reading 'Queue')". Give MathJax 3 that one entry
// point. Loaded just before embed.js, so this load listener runs before the one that draws the widgets.
(function () {
  window.addEventListener("load", function () {
    var mathjax = window.MathJax;
    if (!mathjax || !mathjax.version || mathjax.Hub) return; // no MathJax 3 on this page
    mathjax.Hub = {
      Queue: function () {
        var elements = [];
        for (var i = 0; i < arguments.length; i++) {
          var job = arguments[i];
          if (Array.isArray(job) && job[0] === "Typeset" && job[2]) elements.push(job[2]);
        }
        if (!elements.length || !mathjax.typesetPromise) return;
        mathjax.startup.promise
          .then(function () { return mathjax.typesetPromise(elements); })
          .catch(function (err) { console.warn("MathJax could not typeset a widget label:", err); });
      },
    };
  });
})();
