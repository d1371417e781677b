"""audio_rnn in the browser: `streamlit run app.py` (or `bash run.sh app`).

A thin shell: each page is a function in `audio_rnn.ui`; models, signal
processing and training all live in the package.
"""

import streamlit as st

from audio_rnn.ui import generator, inside, keywords, listen, train_own

st.set_page_config(page_title="audio_rnn", page_icon=":material/graphic_eq:", layout="wide")

pages = [
    st.Page(keywords.render, title="Keywords", icon=":material/mic:", default=True),
    st.Page(listen.render, title="Listen live", icon=":material/hearing:", url_path="listen"),
    st.Page(generator.render, title="Sequence generator", icon=":material/music_note:", url_path="generator"),
    st.Page(inside.render, title="Inside the RNN", icon=":material/neurology:", url_path="inside"),
    st.Page(train_own.render, title="Train your own keywords", icon=":material/model_training:", url_path="train"),
]
st.navigation(pages).run()
